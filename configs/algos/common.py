"""Settings shared by the diffusion agents: the official code's defaults (docs/ALGORITHMS.md §4.8),
and their shared preset adjustments (why: docs/PRESETS.md)."""

from ml_collections import ConfigDict


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
# The parallel preset keeps the schedule that learns at low update counts (no delays, alpha
# annealed per 25 updates, two critic steps) with the official 3x256 nets, 16 particles and 10
# steps (the 8-particle, 5-step sampler lagged far behind on HalfCheetah-v5: docs/LEARNING.md).
DIFFUSION_PRESETS["parallel"] = {**DIFFUSION_PRESETS["cpu"]}
