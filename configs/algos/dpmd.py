"""DPMD defaults = the official code's (docs/ALGORITHMS.md §2, §6)."""

from ml_collections import ConfigDict

from configs.algos.common import DIFFUSION_PRESETS, DIFFUSION_RANGES, diffusion_actor_critic
from mjxrsm.config import choices
from mjxrsm.config.ranges import Bool, Choice, Real


def get_config() -> ConfigDict:
    c = diffusion_actor_critic()
    c.q_norm = "official"  # official (q - m/s precedence bug) | standardize | none
    c.q_clip = 3.0
    c.constant_weights = False  # ablation: plain best-of-N self-imitation (§6.2)
    # td_next (official): the TD target's a', one per state, batch-normalised weights;
    # particles: all N particles per state, weights standardised within the state (deviation)
    c.policy_samples = "td_next"
    c.stats_rate = 0.001
    c.double_critic_step = True  # official quirk: the critic Adam step is applied twice (§6.4)
    return c


RANGES = {
    **DIFFUSION_RANGES,
    "q_norm": Choice(choices.Q_NORMS),
    "q_clip": Real(0.0, 1e6, lo_open=True),
    "constant_weights": Bool(),
    "policy_samples": Choice(choices.POLICY_SAMPLES),
    "stats_rate": Real(0.0, 1.0, lo_open=True),
}


# DPMD's own preset values; why each, with the runs behind it: docs/PRESETS.md ("Evidence").
_EXPLORE_AND_CRITIC = {"noise_scale": 0.2, "critic_lr": 1e-3}
PRESETS = {**DIFFUSION_PRESETS,
           "cpu": {**DIFFUSION_PRESETS["cpu"], "critic_hidden": (256, 256), **_EXPLORE_AND_CRITIC},
           "parallel": {**DIFFUSION_PRESETS["parallel"], **_EXPLORE_AND_CRITIC}}

COLOR = "C0"  # in every plot (bench/report.py)
