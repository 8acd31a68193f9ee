"""mjxrsm: accelerator-resident online RL with diffusion policies (RSM: DPMD, SDAC) on MuJoCo MJX."""

__version__ = "0.1.0"
