"""The actor-critic skeleton shared by DPMD and SDAC (ALGORITHMS.md §2-4).

One gradient step, in the official order:
  1. TD target: a' = best-of-N(online policy, online critics, s') + 0.1 alpha N(0, I);
     y = reward_scale * r + gamma (1 - done) min_i Qbar_i(s', a')   (no entropy term).
  2. Critic Adam step (DPMD applies the same gradients again at the end: `double_critic_step`).
  3. The algorithm's policy step (only every `policy_delay` steps; the optimiser count advances only
     then, so the lr schedule is in policy-optimiser steps as in the official code).
  4. Temperature step every `alpha_update_every` steps on the Gaussian entropy proxy.
  5. Polyak targets (critics and policy) every `target_update_every` steps.
The algorithm supplies `policy_step(state, batch, ctx, do_policy, key)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from ml_collections import ConfigDict

from mjxrsm import diffusion
from mjxrsm.agents.base import (
    Agent,
    Metrics,
    Params,
    adam_step,
    apply_if,
    cond_or_zeros,
    critic_loss_fn,
    polyak,
    td_target,
    tree_where,
)
from mjxrsm.networks import CriticEnsemble, NoisePredictor
from mjxrsm.policy import (
    DiffusionPolicy,
    explore,
    gaussian_entropy_proxy,
    temperature_loss,
)
from mjxrsm.replay import Transition
from mjxrsm.rsm import RunningStats


@struct.dataclass
class DiffusionAgentState:
    policy: Params
    target_policy: Params
    critic: Params
    target_critic: Params
    policy_opt: Any
    critic_opt: Any
    log_alpha: jax.Array
    alpha_opt: Any
    q_stats: RunningStats
    step: jax.Array  # gradient steps taken (int32)


class StepContext(NamedTuple):
    """What the shared part of the step hands to the algorithm's policy step."""

    alpha: jax.Array
    next_actions: jax.Array  # a' used in the TD target (includes exploration noise)
    critic_before: Params  # online critics before this step's update
    critic_after: Params  # online critics after the (first) critic step


class Optimizers(NamedTuple):
    policy: optax.GradientTransformation
    critic: optax.GradientTransformation
    alpha: optax.GradientTransformation


PolicyStep = Callable[
    [DiffusionAgentState, Transition, StepContext, jax.Array, jax.Array],
    tuple[Params, Any, RunningStats, Metrics],
]


def make_diffusion_policy(cfg: ConfigDict, obs_size: int, action_size: int) -> DiffusionPolicy:
    hidden = tuple(cfg.hidden)
    return DiffusionPolicy(
        eps_net=NoisePredictor(action_size, obs_size, hidden, cfg.time_dim, cfg.activation),
        critic_net=CriticEnsemble(cfg.num_critics, hidden, cfg.activation),
        schedule=diffusion.make_schedule(
            cfg.diffusion_steps, cfg.beta_schedule, cfg.beta_schedule_scale
        ),
        init_noise_scale=cfg.init_noise_scale,
        clip_x0=cfg.clip_x0,
        sampler=cfg.sampler,
        sampler_variance=cfg.sampler_variance,
    )


def make_optimizers(cfg: ConfigDict) -> Optimizers:
    policy_lr = optax.linear_schedule(
        cfg.lr, cfg.lr_end, transition_steps=cfg.lr_decay_steps, transition_begin=cfg.lr_decay_begin
    )
    return Optimizers(optax.adam(policy_lr), optax.adam(cfg.critic_lr), optax.adam(cfg.alpha_lr))


def policy_grad_step(
    do: jax.Array,
    loss_fn: Callable[[Params], tuple[jax.Array, Metrics]],
    optimizer: optax.GradientTransformation,
    params: Params,
    opt_state,
) -> tuple[Params, Any, Metrics]:
    """Gradient + Adam step on the policy, computed only when `do` holds (lax.cond), so the
    delayed steps cost nothing. Skipped steps report zeros and `policy/applied = 0`."""

    def run(params, opt_state):
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        params, opt_state = adam_step(optimizer, grads, opt_state, params)
        gnorm = optax.global_norm(grads)
        return params, opt_state, {**metrics, "policy/loss": loss, "policy/grad_norm": gnorm}

    params, opt_state, metrics = cond_or_zeros(do, run, params, opt_state)
    return params, opt_state, {**metrics, "policy/applied": do.astype(jnp.float32)}


def make_diffusion_agent(
    cfg: ConfigDict, obs_size: int, action_size: int, policy_step_factory: Callable[..., PolicyStep]
) -> Agent:
    """Build init/act/update for a diffusion actor-critic whose policy step is supplied by the
    algorithm (`policy_step_factory(cfg, pol, optimizers, action_size) -> PolicyStep`)."""
    pol = make_diffusion_policy(cfg, obs_size, action_size)
    opts = make_optimizers(cfg)
    policy_step = policy_step_factory(cfg, pol, opts, action_size)
    target_entropy = cfg.target_entropy_per_dim * action_size

    def init(key: jax.Array) -> DiffusionAgentState:
        kp, kc = jax.random.split(key)
        obs = jnp.zeros((1, obs_size))
        act = jnp.zeros((1, action_size))
        policy = pol.eps_net.init(kp, obs, act, jnp.zeros((1,), jnp.int32))
        critic = pol.critic_net.init(kc, obs, act)
        log_alpha = jnp.asarray(math.log(cfg.alpha_init), jnp.float32)
        return DiffusionAgentState(
            policy=policy,
            target_policy=policy,
            critic=critic,
            target_critic=critic,
            policy_opt=opts.policy.init(policy),
            critic_opt=opts.critic.init(critic),
            log_alpha=log_alpha,
            alpha_opt=opts.alpha.init(log_alpha),
            q_stats=RunningStats.init(),
            step=jnp.zeros((), jnp.int32),
        )

    def act(
        state: DiffusionAgentState, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array:
        """Best-of-N with the target (EMA) policy by default (`act_with`), plus exploration noise
        0.1 alpha N(0, I) unless deterministic."""
        params = state.target_policy if cfg.act_with == "target" else state.policy
        k_sample, k_noise = jax.random.split(key)
        a = pol.best_of_n(params, state.critic, obs, k_sample, cfg.num_particles)
        if deterministic:
            return a
        alpha = jnp.exp(state.log_alpha)
        return explore(a, alpha, cfg.noise_scale, k_noise, cfg.clip_exploration)

    def update(
        state: DiffusionAgentState, batch: Transition, key: jax.Array
    ) -> tuple[DiffusionAgentState, Metrics]:
        k_next, k_noise, k_pol = jax.random.split(key, 3)
        alpha = jnp.exp(state.log_alpha)

        # 1. TD target with a fresh best-of-N next action (online policy, pre-update critics).
        a_next = pol.best_of_n(
            state.policy, state.critic, batch.next_obs, k_next, cfg.num_particles
        )
        a_next = explore(a_next, alpha, cfg.noise_scale, k_noise, cfg.clip_exploration)
        next_v = pol.q_min(state.target_critic, batch.next_obs, a_next)
        y = td_target(batch.reward, batch.done, next_v, cfg.gamma, cfg.reward_scale)

        # 2. Critic step.
        (c_loss, q), c_grads = jax.value_and_grad(
            lambda p: critic_loss_fn(pol.critic_net.apply, p, batch.obs, batch.action, y),
            has_aux=True,
        )(state.critic)
        critic, critic_opt = adam_step(opts.critic, c_grads, state.critic_opt, state.critic)

        # 3. Policy step (delayed).
        do_policy = state.step % cfg.policy_delay == 0
        ctx = StepContext(alpha, a_next, state.critic, critic)
        policy, policy_opt, q_stats, p_metrics = policy_step(state, batch, ctx, do_policy, k_pol)

        # 4. Temperature on the Gaussian entropy proxy.
        entropy = gaussian_entropy_proxy(alpha, action_size, cfg.entropy_noise_scale)
        a_grad = jax.grad(lambda la: temperature_loss(la, entropy, target_entropy))(state.log_alpha)
        log_alpha, alpha_opt = apply_if(
            state.step % cfg.alpha_update_every == 0,
            opts.alpha,
            a_grad,
            state.alpha_opt,
            state.log_alpha,
        )

        # DPMD quirk: a second Adam step with the same critic gradients (§6.4).
        if cfg.get("double_critic_step", False):
            critic, critic_opt = adam_step(opts.critic, c_grads, critic_opt, critic)

        # 5. Targets.
        do_target = state.step % cfg.target_update_every == 0
        target_critic = tree_where(
            do_target, polyak(state.target_critic, critic, cfg.tau), state.target_critic
        )
        target_policy = tree_where(
            do_target, polyak(state.target_policy, policy, cfg.tau), state.target_policy
        )

        new_state = DiffusionAgentState(
            policy=policy,
            target_policy=target_policy,
            critic=critic,
            target_critic=target_critic,
            policy_opt=policy_opt,
            critic_opt=critic_opt,
            log_alpha=log_alpha,
            alpha_opt=alpha_opt,
            q_stats=q_stats,
            step=state.step + 1,
        )
        metrics = {
            "critic/loss": c_loss,
            "critic/q_mean": q.mean(),
            "critic/target_mean": y.mean(),
            "alpha": alpha,
            "entropy_proxy": entropy,
            "q_stats/mean": q_stats.mean,
            "q_stats/std": q_stats.std,
            **p_metrics,
        }
        return new_state, metrics

    return Agent(init=init, act=act, update=update)
