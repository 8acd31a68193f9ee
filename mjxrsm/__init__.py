"""mjxrsm: accelerator-resident online RL with diffusion policies (RSM: DPMD, SDAC) on MJX."""

__version__ = "0.1.0"
