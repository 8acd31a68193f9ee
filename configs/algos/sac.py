"""SAC baseline defaults (docs/ALGORITHMS.md §7): same widths, batch and reward scale as the
diffusion agents (the cpu preset widens SAC to 2x256, below); correct tanh log-density; target
entropy -d; tau 0.005 every step."""

from ml_collections import ConfigDict

from configs.algos.common import DIFFUSION_RANGES, alpha_rate_of


def get_config() -> ConfigDict:
    c = ConfigDict()
    c.hidden = (256, 256, 256)
    c.activation = "mish"
    c.num_critics = 2
    c.batch_size = 256
    c.gamma = 0.99
    c.reward_scale = 0.2
    c.lr = 3e-4
    c.critic_lr = 3e-4
    c.alpha_lr = 3e-4
    c.alpha_init = 1.0
    c.target_entropy_per_dim = -1.0
    c.tau = 0.005
    c.target_update_every = 1
    c.policy_delay = 1
    return c


# The settings SAC shares with the diffusion agents mean the same, so they keep their ranges.
RANGES = {k: DIFFUSION_RANGES[k] for k in (
    "hidden", "activation", "num_critics", "batch_size", "gamma", "reward_scale", "lr", "critic_lr",
    "alpha_lr", "alpha_init", "target_entropy_per_dim", "tau", "target_update_every",
    "policy_delay")}


# SAC's own preset values; why each, with the runs behind it: docs/PRESETS.md ("Evidence").
_RELU_FAST_CRITIC = {"activation": "relu", "critic_lr": 1e-3}
PRESETS: dict[str, dict] = {"cpu": {"hidden": (256, 256), **_RELU_FAST_CRITIC},
                            "parallel": {**_RELU_FAST_CRITIC, "alpha_lr": alpha_rate_of(
                                "parallel", "cpu", get_config().alpha_lr)["alpha_lr"]}}

# On a CPU SAC collects with 1 env (docs/PRESETS.md, "Evidence").
RUN_PRESETS: dict[str, dict] = {"cpu": {"num_envs": 1}}

COLOR = "C1"  # in every plot (bench/report.py)
