"""Settings shared by the diffusion agents: the official code's defaults (docs/ALGORITHMS.md §4.8),
and their shared preset adjustments (why: docs/PRESETS.md)."""

from ml_collections import ConfigDict

from mjxrsm.config import choices
from mjxrsm.config.ranges import (
    COUNT,
    DISCOUNT,
    LEARNING_RATE,
    POLYAK,
    Bool,
    Choice,
    Int,
    Real,
    Widths,
)


def diffusion_actor_critic() -> ConfigDict:
    c = ConfigDict()
    # Networks (§4.2)
    c.hidden = (256, 256, 256)
    c.critic_hidden = ()  # () = `hidden`; the critic is cheap next to the reverse-chain sampler
    c.activation = "mish"
    c.time_dim = 16
    c.num_critics = 2
    # Diffusion (§4.1)
    c.diffusion_steps = 20
    c.beta_schedule = "linear"  # linear | cosine | vp
    c.beta_schedule_scale = 0.8
    c.init_noise_scale = 0.5
    c.clip_x0 = True
    c.sampler = "ddpm"  # ddpm | ddim
    c.sampler_variance = "posterior"  # posterior (official) | beta | exact_diag (variance-correct)
    # Acting (§4.3, §4.7)
    c.num_particles = 32
    c.noise_scale = 0.1
    c.clip_exploration = False  # official: noise added after the clip, not clipped (§6.7)
    c.act_with = "target"  # target (official, EMA policy acts) | online
    # Optimisation (§4.5)
    c.batch_size = 256
    c.gamma = 0.99
    c.reward_scale = 0.2
    c.critic_lr = 3e-4
    c.lr = 3e-4
    c.lr_end = 3e-5
    c.lr_decay_begin = 25_000  # in policy-optimiser steps
    c.lr_decay_steps = 50_000
    c.policy_delay = 2
    c.tau = 0.005
    c.target_update_every = 2
    # Temperature (§4.4)
    c.alpha_init = 5.0
    c.alpha_lr = 7e-3
    c.alpha_update_every = 250
    c.target_entropy_per_dim = -0.9
    c.entropy_noise_scale = 0.1  # hard-coded 0.1 in the official entropy proxy
    # RSM temperature lambda: <= 0 couples it to alpha (official); > 0 fixes it.
    c.rsm_temperature = 0.0
    return c


# What each setting above may hold (mjxrsm/config/ranges.py; checked by config_check.validate).
DIFFUSION_RANGES = {
    "hidden": Widths(),
    "critic_hidden": Widths(empty_ok=True),
    "activation": Choice(choices.ACTIVATIONS),
    "time_dim": Int(2, 4096),
    "num_critics": Int(1, 64),
    "diffusion_steps": Int(1, 1000),
    "beta_schedule": Choice(choices.SCHEDULES),
    "beta_schedule_scale": Real(0.0, 1.0, lo_open=True),  # linear betas reach 0.999 * scale < 1
    "init_noise_scale": Real(0.0, 100.0, lo_open=True),
    "clip_x0": Bool(),
    "sampler": Choice(choices.SAMPLERS),
    "sampler_variance": Choice(choices.VARIANCES),
    "num_particles": Int(1, 4096),
    "noise_scale": Real(0.0, 10.0),
    "clip_exploration": Bool(),
    "act_with": Choice(choices.ACT_WITH),
    "batch_size": Int(1, 1 << 20),
    "gamma": DISCOUNT,
    "reward_scale": Real(0.0, 1e6, lo_open=True),
    "critic_lr": LEARNING_RATE,
    "lr": LEARNING_RATE,
    "lr_end": Real(0.0, 1.0),
    "lr_decay_begin": Int(0, 10**12),
    "lr_decay_steps": COUNT,
    "policy_delay": Int(1, 100_000),
    "tau": POLYAK,
    "target_update_every": Int(1, 100_000),
    "alpha_init": Real(0.0, 1e6, lo_open=True),
    "alpha_lr": Real(0.0, 1.0),  # 0 keeps alpha fixed (QSM has no temperature)
    "alpha_update_every": Int(1, 100_000),
    "target_entropy_per_dim": Real(-100.0, 100.0),
    "entropy_noise_scale": Real(0.0, 10.0, lo_open=True),
    "rsm_temperature": Real(-1e6, 1e6),  # <= 0: coupled to alpha
    "double_critic_step": Bool(),
}


def alpha_rate_of(preset: str, like: str, alpha_lr: float, alpha_update_every: int = 1) -> dict:
    """Temperature settings under which alpha anneals as fast *per env step* in run preset
    `preset` as (`alpha_lr`, every `alpha_update_every` updates) does in preset `like`.

    Why: Adam moves log alpha by about its learning rate per step, so alpha's pace per env step
    is alpha_lr * utd_ratio / alpha_update_every. Stepped per update, it anneals 64x slower per
    env step at UTD 1/64 than at UTD 1, where the schedules were tuned; SAC so kept a near-uniform
    policy for 500k env steps in the parallel regime (docs/experiments/). Change the preset's
    utd_ratio and this follows."""
    from configs.train import PRESETS as RUN_PRESETS

    per_env_step = alpha_lr * RUN_PRESETS[like]["utd_ratio"] / alpha_update_every
    return {"alpha_lr": per_env_step / RUN_PRESETS[preset]["utd_ratio"], "alpha_update_every": 1}


# Preset adjustments shared by the diffusion agents (keys relative to the algo config).
DIFFUSION_PRESETS: dict[str, dict] = {
    "cpu": {
        "num_particles": 16,
        "diffusion_steps": 10,
        "policy_delay": 1,
        "target_update_every": 1,
        "lr_decay_begin": 10**9,  # keep the policy lr constant on short runs
        "alpha_update_every": 25,  # anneal alpha 5 -> ~1 within ~6k updates
        "double_critic_step": True,  # two critic Adam steps per update, SDAC included
    },
}
# The parallel preset keeps the schedule that learns at low update counts (no delays, two critic
# steps) with the official 3x256 nets, 16 particles and 10 steps (the 8-particle, 5-step sampler
# lagged far behind on HalfCheetah-v5: docs/experiments/), and alpha annealed as fast per env
# step as in the cpu preset (every update, at a rate 1/UTD larger: `alpha_rate_of`).
DIFFUSION_PRESETS["parallel"] = {
    **DIFFUSION_PRESETS["cpu"],
    **alpha_rate_of("parallel", "cpu", diffusion_actor_critic().alpha_lr,
                    DIFFUSION_PRESETS["cpu"]["alpha_update_every"]),
}
