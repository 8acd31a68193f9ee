"""DPMD — Diffusion Policy Mirror Descent (docs/ALGORITHMS.md §2).

Policy step: importance-weighted denoising score matching towards pi_old * exp(Q / lambda), on the
TD target's own next states and next actions (s', a'), weights exp(clip(norm(Q), -3, 3) / alpha)
from the critics after their first update. Official quirks are switches in configs/algos/dpmd.py:
`q_norm` (precedence bug by default), `constant_weights`, `double_critic_step`, and
`policy_samples` (`td_next`, official; `particles`: all N particles per state, weighted within
the state, a deviation measured in docs/experiments/).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from mjxrsm.agents.base import Agent
from mjxrsm.agents.diffusion_agent import (
    DiffusionAgentState,
    Optimizers,
    PolicyOut,
    StepContext,
    make_diffusion_agent,
    policy_grad_step,
)
from mjxrsm.config import choices
from mjxrsm.core.metrics import gated
from mjxrsm.core.replay import Transition
from mjxrsm.models import rsm
from mjxrsm.models.policy import DiffusionPolicy


def rsm_temperature(cfg: ConfigDict, alpha):
    """lambda: the tuned alpha (official coupling, `rsm_temperature <= 0`) or a fixed value."""
    return alpha if cfg.rsm_temperature <= 0 else cfg.rsm_temperature


class PolicySamples(NamedTuple):
    """What DPMD's weighted score matching fits: states, actions, their weights, and the scores
    the weights were computed from (for the metrics)."""

    obs: jax.Array  # [M / repeat, o]: each state serves `repeat` consecutive actions
    actions: jax.Array  # [M, d]
    weights: jax.Array  # [M]
    scores: jax.Array  # [M] normalised Q before the clip
    repeat: int = 1


def td_next_samples(cfg: ConfigDict, state: DiffusionAgentState, batch: Transition,
                    ctx: StepContext, q: jax.Array) -> PolicySamples:
    """Official: the TD target's (s', a'), one per state, weights from their Q under the critics
    after their first update (`q`), normalised with batch-wide running stats (`q_norm`)."""
    w = rsm.dpmd_weights(q, state.q_stats, rsm_temperature(cfg, ctx.alpha), q_norm=cfg.q_norm,
                         clip=cfg.q_clip, constant_weights=cfg.constant_weights)
    return PolicySamples(batch.next_obs, ctx.next_actions, w,
                         rsm.normalise_q(q, state.q_stats, cfg.q_norm))


def particle_samples(cfg: ConfigDict, state: DiffusionAgentState, batch: Transition,
                     ctx: StepContext, q: jax.Array) -> PolicySamples:
    """All N particles a' was chosen from (the online policy's own samples, without the
    exploration noise), weighted within each state (`rsm.per_state_weights`) by their Q under
    the pre-update critics, computed for the best-of-N anyway. N times the samples of
    `td_next` in the loss; no extra sampling or critic pass (`q`, the TD next actions' Q, only
    moves the running stats)."""
    b, n, d = ctx.particles.shape
    w, z = rsm.per_state_weights(ctx.particle_q, rsm_temperature(cfg, ctx.alpha), clip=cfg.q_clip)
    if cfg.constant_weights:
        w = jnp.ones_like(w)
    return PolicySamples(batch.next_obs, ctx.particles.reshape(b * n, d), w.reshape(-1),
                         z.reshape(-1), repeat=n)


SAMPLES = {"td_next": td_next_samples, "particles": particle_samples}
assert tuple(SAMPLES) == choices.POLICY_SAMPLES


def policy_step(cfg: ConfigDict, pol: DiffusionPolicy, opts: Optimizers, state: DiffusionAgentState,
                batch: Transition, ctx: StepContext, do: jax.Array, key: jax.Array) -> PolicyOut:
    """The DPMD policy step (see the module docstring); a `PolicyStep`."""
    q = pol.q_min(ctx.critic_after, batch.next_obs, ctx.next_actions)
    smp = SAMPLES[cfg.policy_samples](cfg, state, batch, ctx, q)
    w = smp.weights

    def loss_fn(params):
        eps = pol.eps_fn(params, smp.obs, smp.repeat)
        return rsm.dpmd_loss(eps, pol.schedule, smp.actions, w, key), {}

    policy, policy_opt, metrics = policy_grad_step(
        do, loss_fn, opts.policy, state.policy, state.policy_opt
    )
    metrics.update(gated({  # the weights of the policy step: averaged where it ran
        "dpmd/frac_at_clip": jnp.mean(jnp.abs(smp.scores) >= cfg.q_clip),
        "dpmd/w_min": w.min(),
        "dpmd/w_max": w.max(),
        "dpmd/ess_frac": jnp.square(w.sum()) / jnp.square(w).sum() / w.shape[0],
    }, do))
    # The running stats follow the TD target's a' in either mode (only `q_norm` uses them).
    return policy, policy_opt, state.q_stats.update(q, cfg.stats_rate), metrics


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    return make_diffusion_agent(cfg, obs_size, action_size, policy_step)
