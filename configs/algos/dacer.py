"""DACER defaults = the official code's (docs/ALGORITHMS.md §7): the shared diffusion actor-critic
with DACER's own schedule scale, learning rates, exploration and temperature."""

from ml_collections import ConfigDict

from configs.algos.common import DIFFUSION_RANGES, alpha_rate_of, diffusion_actor_critic
from mjxrsm.config.ranges import Int


def get_config() -> ConfigDict:
    c = diffusion_actor_critic()
    c.beta_schedule_scale = 0.3  # DACER's GaussianDiffusion default (DPMD/SDAC: 0.8)
    c.num_particles = 1  # no best-of-N: the chain's one sample is the action
    c.noise_scale = 0.15  # exploration a + 0.15 alpha N(0, I) ...
    c.clip_exploration = True  # ... then clipped to the box
    c.act_with = "online"  # DACER keeps no target policy for acting
    c.lr = 1e-4
    c.lr_end = 5e-5
    c.critic_lr = 1e-4
    c.alpha_init = 3.0
    c.alpha_lr = 3e-2
    c.alpha_update_every = 10_000
    c.double_critic_step = False
    # Entropy estimate for the temperature (mjxrsm/models/entropy.py): a Gaussian mixture per state.
    c.entropy_samples = 200  # actions sampled per state
    c.entropy_components = 3
    c.entropy_states = 0  # batch states used (0: the whole batch, official)
    del c["entropy_noise_scale"]  # the Gaussian proxy is not used
    del c["rsm_temperature"]  # no RSM weights
    return c


RANGES = {
    **{k: v for k, v in DIFFUSION_RANGES.items()
       if k not in ("entropy_noise_scale", "rsm_temperature")},
    "entropy_samples": Int(2, 100_000),
    "entropy_components": Int(1, 16),
    "entropy_states": Int(0, 1 << 20),
}

# Short runs: a constant policy lr and an alpha step every 100 updates, so that alpha anneals from
# 3 to its equilibrium within ~5k updates, as the diffusion presets anneal DPMD/SDAC's (official
# 10k: a 20k-update run moves alpha twice, and every 1,000 left inverted_pendulum at ~140 after
# 20k env steps with alpha still at 1.9: docs/experiments/); the mixture fit on 64 states.
_SHORT_RUNS = {"lr_decay_begin": 10**9, "alpha_update_every": 100, "entropy_states": 64}
PRESETS = {"cpu": _SHORT_RUNS,
           "parallel": {**_SHORT_RUNS, **alpha_rate_of("parallel", "cpu", get_config().alpha_lr,
                                                      _SHORT_RUNS["alpha_update_every"])}}

COLOR = "C3"  # in every plot (bench/report.py)
