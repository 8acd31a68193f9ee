"""DACER — Diffusion Actor-Critic with Entropy Regulator (docs/ALGORITHMS.md §7), the baseline the
official DPMD/SDAC code grew from.

The reverse diffusion chain *is* the actor: the policy loss is -E[min_i Q_i(s, a_theta(s))] on
buffer states, with the gradient back-propagated through every denoising step (the noise is
reparameterised), using the critics before this step's update (official). Exploration adds
0.15 alpha N(0, I) and clips. alpha is tuned every `alpha_update_every` updates against
-0.9 d on DACER's entropy estimate: a 3-component Gaussian mixture fitted to
`entropy_samples` noisy actions per state (mjxrsm/models/entropy.py). The critic is the shared twin
Q
with a min target, not the official distributional (DSAC-T) critic: documented in
docs/ALGORITHMS.md §7. Memory and time grow with the number of diffusion steps, because of the
back-propagation through the chain: the cost RSM avoids.
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
from mjxrsm.models.entropy import gmm_entropy
from mjxrsm.models.policy import DiffusionPolicy, explore


def dacer_policy_loss(
    pol: DiffusionPolicy, params: Params, critic: Params, obs: jax.Array, key: jax.Array
) -> jax.Array:
    """-mean min_i Q_i(s, a) with a drawn by the reverse chain of `params`: differentiable in
    `params` through every step (exploration noise does not depend on them, so it is left out)."""
    return _loss_and_actions(pol, params, critic, obs, key)[0]


def _loss_and_actions(pol, params, critic, obs, key):
    a = pol.sample(params, obs, key)
    return -pol.q_min(critic, obs, a).mean(), a


def policy_step(cfg: ConfigDict, pol: DiffusionPolicy, opts: Optimizers, state: DiffusionAgentState,
                batch: Transition, ctx: StepContext, do: jax.Array, key: jax.Array) -> PolicyOut:
    """The DACER policy step (see the module docstring); a `PolicyStep`."""

    def loss_fn(params):
        loss, a = _loss_and_actions(pol, params, ctx.critic_before, batch.obs, key)
        # Where the chain's output sits on the box, the clip passes no gradient back.
        return loss, {"dacer/frac_at_bound": jnp.mean(jnp.abs(a) >= 1.0)}

    policy, policy_opt, metrics = policy_grad_step(
        do, loss_fn, opts.policy, state.policy, state.policy_opt
    )
    return policy, policy_opt, state.q_stats, metrics


def entropy_estimate(
    cfg: ConfigDict, pol: DiffusionPolicy, state: DiffusionAgentState, batch: Transition,
    key: jax.Array,
) -> jax.Array:
    """DACER's entropy of the acting distribution (chain + exploration noise, as the official
    estimate samples it) on the first `entropy_states` batch states (0: all of them)."""
    obs = batch.obs if cfg.entropy_states <= 0 else batch.obs[: cfg.entropy_states]
    n, d = cfg.entropy_samples, pol.eps_net.action_size
    k_sample, k_noise, k_fit = jax.random.split(key, 3)
    a = pol.sample(state.policy, obs, k_sample, n)
    a = explore(a, jnp.exp(state.log_alpha), cfg.noise_scale, k_noise, cfg.clip_exploration)
    return gmm_entropy(a.reshape(obs.shape[0], n, d), k_fit, cfg.entropy_components)


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    return make_diffusion_agent(cfg, obs_size, action_size, policy_step,
                                entropy_fn=entropy_estimate)
