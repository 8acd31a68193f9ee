"""QSM defaults = the official code's (docs/ALGORITHMS.md §7): a score network on the shared
diffusion actor-critic, sampled by 20 annealed Langevin steps; no entropy term, no temperature,
no reward scaling (official)."""

from ml_collections import ConfigDict

from configs.algos.common import DIFFUSION_RANGES, diffusion_actor_critic
from mjxrsm.config.ranges import Real


def get_config() -> ConfigDict:
    c = diffusion_actor_critic()
    c.sampler = "langevin"
    c.diffusion_steps = 20  # Langevin steps
    c.init_noise_scale = 1.0  # a ~ N(0, I)
    c.num_particles = 1  # best-of-N by min-Q is optional in the official code; off
    c.noise_scale = 0.0  # no exploration noise: the Langevin chain is stochastic
    c.act_with = "online"
    c.reward_scale = 1.0  # official QSM does not scale rewards (docs/ALGORITHMS.md §6.14)
    c.lr_end = 5e-5
    c.policy_delay = 1
    c.target_update_every = 1
    c.alpha_init = 1.0
    c.alpha_lr = 0.0  # no temperature: alpha is unused and stays fixed
    c.double_critic_step = False
    c.q_grad_scale = 1.0  # target score = q_grad_scale * grad_a Q (pi ~ exp(q_grad_scale Q))
    del c["rsm_temperature"]  # no RSM weights
    return c


RANGES = {
    **{k: v for k, v in DIFFUSION_RANGES.items() if k != "rsm_temperature"},
    "q_grad_scale": Real(0.0, 1e6, lo_open=True),
}
PRESETS = {"cpu": {"lr_decay_begin": 10**9}, "parallel": {"lr_decay_begin": 10**9}}

COLOR = "C4"  # in every plot (bench/report.py)
