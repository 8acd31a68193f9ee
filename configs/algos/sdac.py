"""SDAC defaults = the official code's (docs/ALGORITHMS.md §3, §6)."""

from ml_collections import ConfigDict

from configs.algos.common import DIFFUSION_PRESETS, DIFFUSION_RANGES, diffusion_actor_critic
from mjxrsm.config.ranges import Bool, Int, Real


def get_config() -> ConfigDict:
    c = diffusion_actor_critic()
    c.num_candidates = 64  # reverse-sampling Monte-Carlo candidates K
    c.temp_factor = 5.0  # logits = Q * temp_factor / alpha (lambda = alpha / 5)
    c.clip_candidates = True  # official: candidates clipped to [-1, 1] (§6.8)
    c.double_critic_step = False
    return c


RANGES = {
    **DIFFUSION_RANGES,
    "num_candidates": Int(1, 4096),
    "temp_factor": Real(0.0, 1e6, lo_open=True),
    "clip_candidates": Bool(),
}


PRESETS = {name: {**values, "num_candidates": 32} for name, values in DIFFUSION_PRESETS.items()}

COLOR = "C2"  # in every plot (bench/report.py)
