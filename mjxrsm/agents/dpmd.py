"""DPMD — Diffusion Policy Mirror Descent (docs/ALGORITHMS.md §2).

Policy step: importance-weighted denoising score matching towards pi_old * exp(Q / lambda), on the
TD target's own next states and next actions (s', a'), weights exp(clip(norm(Q), -3, 3) / alpha)
from the critics after their first update. Official quirks are switches in configs/algos/dpmd.py:
`q_norm` (precedence bug by default), `constant_weights`, `double_critic_step`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from mjxrsm import rsm
from mjxrsm.agents.base import Agent
from mjxrsm.agents.diffusion_agent import (
    DiffusionAgentState,
    Optimizers,
    PolicyOut,
    StepContext,
    make_diffusion_agent,
    policy_grad_step,
)
from mjxrsm.policy import DiffusionPolicy
from mjxrsm.replay import Transition


def rsm_temperature(cfg: ConfigDict, alpha):
    """lambda: the tuned alpha (official coupling, `rsm_temperature <= 0`) or a fixed value."""
    return alpha if cfg.rsm_temperature <= 0 else cfg.rsm_temperature


def policy_step(cfg: ConfigDict, pol: DiffusionPolicy, opts: Optimizers, state: DiffusionAgentState,
                batch: Transition, ctx: StepContext, do: jax.Array, key: jax.Array) -> PolicyOut:
    """The DPMD policy step (see the module docstring); a `PolicyStep`."""
    obs, actions = batch.next_obs, ctx.next_actions
    q = pol.q_min(ctx.critic_after, obs, actions)
    lam = rsm_temperature(cfg, ctx.alpha)
    w = rsm.dpmd_weights(
        q, state.q_stats, lam, q_norm=cfg.q_norm, clip=cfg.q_clip,
        constant_weights=cfg.constant_weights,
    )

    def loss_fn(params):
        return rsm.dpmd_loss(pol.eps_fn(params, obs), pol.schedule, actions, w, key), {}

    policy, policy_opt, metrics = policy_grad_step(
        do, loss_fn, opts.policy, state.policy, state.policy_opt
    )
    n = rsm.normalise_q(q, state.q_stats, cfg.q_norm)
    metrics.update({
        "dpmd/frac_at_clip": jnp.mean(jnp.abs(n) >= cfg.q_clip),
        "dpmd/w_min": w.min(),
        "dpmd/w_max": w.max(),
        "dpmd/ess_frac": jnp.square(w.sum()) / jnp.square(w).sum() / w.shape[0],
    })
    return policy, policy_opt, state.q_stats.update(q, cfg.stats_rate), metrics


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    return make_diffusion_agent(cfg, obs_size, action_size, policy_step, ("policy", "dpmd"))
