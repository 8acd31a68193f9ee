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


# The cpu preset's 2x128 nets held SAC at half the published HalfCheetah returns (2.2k at 50k env
# steps); 2x256 reached 5.4k (docs/PRESETS.md, bench/results/learning/learning-sac-diagnosis). ReLU and a
# critic lr of 1e-3 (CleanRL's and Tianshou's) took Hopper-v5 from 996 +- 5 to 1,635 +- 441 at 100k
# (inside the published band) and HalfCheetah-v5 from 5,253 +- 165 to 5,535 +- 72 (2 seeds each).
# The parallel preset anneals alpha as fast per env step as the cpu preset does (`alpha_rate_of`):
# stepped per update at UTD 1/64, alpha was still 0.11 at 486k env steps and SAC did not learn.
# It takes ReLU and critic lr 1e-3 too (its nets stay the official 3x256): at 256 envs and UTD
# 1/64 on HalfCheetah-v5, 2,890 +- 605 at 1M against mish/3e-4's 1,686 +- 459 (3 seeds each;
# paired +1,204 +- 1,058, two seeds of three higher), ~15% less wall clock per run
# (docs/experiments/ "The parallel regime: more seeds").
_RELU_FAST_CRITIC = {"activation": "relu", "critic_lr": 1e-3}
PRESETS: dict[str, dict] = {"cpu": {"hidden": (256, 256), **_RELU_FAST_CRITIC},
                            "parallel": {**_RELU_FAST_CRITIC, "alpha_lr": alpha_rate_of(
                                "parallel", "cpu", get_config().alpha_lr)["alpha_lr"]}}

# On a CPU SAC collects with 1 env (docs/PRESETS.md, "Evidence").
RUN_PRESETS: dict[str, dict] = {"cpu": {"num_envs": 1}}

COLOR = "C1"  # in every plot (bench/report.py)
