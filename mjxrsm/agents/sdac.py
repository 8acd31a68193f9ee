"""SDAC — Soft Diffusion Actor-Critic (docs/ALGORITHMS.md §3).

Policy step, on buffer states s: propose a = best-of-N(online policy) + noise, noise it to a_t with
t ~ U{0..T-1}, draw K reverse samples a_0^(k) ~ N(a_t/sqrt(ab), (1-ab)/ab I) (clipped to the box,
official), weight them by softmax_k(Q_min(s, a_0^(k)) * temp_factor / alpha) with the pre-update
critics, and regress eps_theta(s, a_t, t) on the weighted mean noise (the cheap exact form of the
official K-copy loss; see rsm.sdac_loss). The proposal sampling runs only on policy steps.
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
from mjxrsm.models import rsm
from mjxrsm.models.policy import DiffusionPolicy, explore


def sdac_temperature(cfg: ConfigDict, alpha):
    """lambda = alpha / temp_factor (official: 5, the initial alpha), or a fixed value."""
    return alpha / cfg.temp_factor if cfg.rsm_temperature <= 0 else cfg.rsm_temperature


def candidate_q(
    pol: DiffusionPolicy, critic: Params, obs: jax.Array, actions: jax.Array
) -> jax.Array:
    """min_i Q_i(s, a^(k)) of K candidate actions per state: obs [B, o], actions [B, K, d] ->
    [B, K]. The B*K critic evaluations are most of SDAC's extra cost over DPMD."""
    b, k = actions.shape[:2]
    return pol.q_min(critic, obs, actions.reshape(b * k, -1)).reshape(b, k)


def policy_step(cfg: ConfigDict, pol: DiffusionPolicy, opts: Optimizers, state: DiffusionAgentState,
                batch: Transition, ctx: StepContext, do: jax.Array, key: jax.Array) -> PolicyOut:
    """The SDAC policy step (see the module docstring); a `PolicyStep`."""
    k_cand = cfg.num_candidates
    obs = batch.obs
    k_prop, k_noise, k_t, k_rev = jax.random.split(key, 4)

    def loss_fn(params):
        # Targets depend on state.policy (closed over), never on `params`: no gradient
        # flows through the sampler or the critics.
        prop = pol.best_of_n(state.policy, ctx.critic_before, obs, k_prop, cfg.num_particles)
        prop = explore(prop, ctx.alpha, cfg.noise_scale, k_noise, cfg.clip_exploration)
        a_t, t, _ = rsm.noised_actions(pol.schedule, prop, k_t)
        rev = rsm.sdac_reverse_samples(
            pol.schedule, a_t, t, k_rev, k_cand, clip=cfg.clip_candidates
        )
        q = candidate_q(pol, ctx.critic_before, obs, rev.actions)
        eps_bar, w = rsm.sdac_target_noise(q / sdac_temperature(cfg, ctx.alpha), rev.noise)
        loss = rsm.sdac_loss(pol.eps_fn(params, obs), a_t, t, eps_bar)
        return loss, {
            "sdac/max_weight": w.max(-1).mean(),
            "sdac/ess_frac": (1.0 / jnp.square(w).sum(-1)).mean() / k_cand,
            "sdac/frac_on_boundary": jnp.mean(jnp.abs(rev.actions) >= 1.0),
        }

    policy, policy_opt, metrics = policy_grad_step(
        do, loss_fn, opts.policy, state.policy, state.policy_opt
    )
    # The official code also updates running Q statistics here but never reads them.
    return policy, policy_opt, state.q_stats, metrics


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    return make_diffusion_agent(cfg, obs_size, action_size, policy_step)
