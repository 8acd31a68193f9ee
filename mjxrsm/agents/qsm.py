"""QSM — Q-Score Matching (docs/ALGORITHMS.md §7; Psenka et al., ICML 2024).

A score network Psi_theta(s, a) is regressed onto the critic's action gradient on buffer pairs,
E || Psi_theta(s, a) - c grad_a Q_j(s, a) ||^2, where j is the critic with the smaller value at
(s, a) and the critics are the ones after this step's update (official). Its fixed point is the
score of pi ~ exp(c Q). Actions come from annealed Langevin dynamics on Psi (the `langevin`
sampler in mjxrsm/models/diffusion.py, from N(0, I)), optionally best-of-N by min-Q. The score
network
is the shared noise predictor read at level t = 0 (QSM's score has no diffusion time). No
entropy term, no exploration noise and no temperature: alpha stays fixed (`alpha_lr = 0`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from mjxrsm.agents.base import Agent, Params
from mjxrsm.agents.diffusion_agent import (
    DiffusionAgentState,
    Optimizers,
    PolicyOut,
    StepContext,
    make_diffusion_agent,
    policy_grad_step,
)
from mjxrsm.core.replay import Transition
from mjxrsm.models.policy import DiffusionPolicy


def min_critic_action_grad(
    pol: DiffusionPolicy, critic: Params, obs: jax.Array, actions: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(min_i Q_i(s, a) [B], grad_a Q_j(s, a) [B, d]) with j = argmin_i Q_i(s, a) per row."""
    q_fn = lambda a: pol.critic_net.apply(critic, obs, a)  # noqa: E731  [K, B]
    q, vjp = jax.vjp(q_fn, actions)
    k = q.shape[0]
    # Row b of critic i depends only on action row b, so one VJP per critic gives every row's
    # gradient of that critic.
    # [K, K, B]; built from q so that it varies over devices as q does (the trainer's shard_map).
    one_hot = jnp.eye(k, dtype=q.dtype)[:, :, None] * jnp.ones_like(q)[None]
    grads = jax.vmap(lambda ct: vjp(ct)[0])(one_hot)  # [K, B, d]
    j = jnp.argmin(q, axis=0)
    return q.min(axis=0), jnp.take_along_axis(grads, j[None, :, None], axis=0)[0]


def score(pol: DiffusionPolicy, params: Params, obs: jax.Array, actions: jax.Array) -> jax.Array:
    """Psi_theta(s, a): the noise predictor at level 0, read as a score."""
    return pol.eps_fn(params, obs)(actions, jnp.zeros((), jnp.int32))


def qsm_loss(
    pol: DiffusionPolicy, params: Params, obs: jax.Array, actions: jax.Array, target: jax.Array
) -> jax.Array:
    """Mean squared error between the score network and the target score (official: mean over
    batch and action dimensions)."""
    return jnp.square(score(pol, params, obs, actions) - jax.lax.stop_gradient(target)).mean()


def policy_step(cfg: ConfigDict, pol: DiffusionPolicy, opts: Optimizers, state: DiffusionAgentState,
                batch: Transition, ctx: StepContext, do: jax.Array, key: jax.Array) -> PolicyOut:
    """The QSM policy step (see the module docstring); a `PolicyStep`."""
    obs, actions = batch.obs, batch.action
    _, grad_q = min_critic_action_grad(pol, ctx.critic_after, obs, actions)
    target = cfg.q_grad_scale * grad_q

    def loss_fn(params):
        return qsm_loss(pol, params, obs, actions, target), {
            "qsm/target_norm": jnp.linalg.norm(target, axis=-1).mean(),
        }

    policy, policy_opt, metrics = policy_grad_step(
        do, loss_fn, opts.policy, state.policy, state.policy_opt
    )
    return policy, policy_opt, state.q_stats, metrics


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    return make_diffusion_agent(cfg, obs_size, action_size, policy_step)
