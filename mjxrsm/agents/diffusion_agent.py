"""The actor-critic skeleton shared by DPMD and SDAC (docs/ALGORITHMS.md §2-4).

One gradient step, in the official order:
  1. TD target: a' = best-of-N(online policy, online critics, s') + 0.1 alpha N(0, I);
     y = reward_scale * r + gamma (1 - done) min_i Qbar_i(s', a')   (no entropy term).
  2. Critic Adam step (DPMD applies the same gradients again at the end: `double_critic_step`).
  3. The algorithm's policy step (only every `policy_delay` steps; the optimiser count advances only
     then, so the lr schedule is in policy-optimiser steps as in the official code).
  4. Temperature step every `alpha_update_every` steps on the Gaussian entropy proxy, or on the
     algorithm's own estimate (`EntropyFn`, e.g. DACER's mixture fit).
  5. Polyak targets (critics and policy) every `target_update_every` steps.
Each step is a named module-level function (`next_action`, `td_value`, `critic_step`, the
algorithm's `policy_step`, `diffusion_temperature_step`, `polyak_if`) that `update` composes and
bench/breakdown.py times. The algorithm supplies `policy_step` (see `PolicyStep`).
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

from mjxrsm.agents.base import (
    Agent,
    Metrics,
    Params,
    adam_step,
    cond_or_zeros,
    critic_step,
    polyak_if,
    td_target,
    temperature_step,
    value_and_mean_grad,
)
from mjxrsm.core.metrics import gated
from mjxrsm.core.replay import Transition
from mjxrsm.core.sharding import zeros_like_type
from mjxrsm.models import diffusion
from mjxrsm.models.networks import CriticEnsemble, NoisePredictor
from mjxrsm.models.policy import DiffusionPolicy, explore, gaussian_entropy_proxy
from mjxrsm.models.rsm import RunningStats


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
    particles: jax.Array  # [B, N, d] the online policy's samples at s' that a' was chosen from
    particle_q: jax.Array  # [B, N] their min-Q under critic_before


class NextActions(NamedTuple):
    """The TD target's next action and what it was chosen from."""

    action: jax.Array  # [B, d] best of N plus exploration noise
    particles: jax.Array  # [B, N, d]
    q: jax.Array  # [B, N] min-Q of each particle (pre-update online critics)
    metrics: Metrics


class Optimizers(NamedTuple):
    policy: optax.GradientTransformation
    critic: optax.GradientTransformation
    alpha: optax.GradientTransformation


PolicyOut = tuple[Params, Any, RunningStats, Metrics]  # (policy, policy_opt, q_stats, metrics)
PolicyStep = Callable[
    [ConfigDict, DiffusionPolicy, Optimizers, DiffusionAgentState, Transition, StepContext,
     jax.Array, jax.Array],
    PolicyOut,
]
"""policy_step(cfg, pol, opts, state, batch, ctx, do_policy, key) -> (policy, policy_opt, q_stats,
metrics): the algorithm's own part, a module-level function of its agent file."""


EntropyFn = Callable[
    [ConfigDict, DiffusionPolicy, DiffusionAgentState, Transition, jax.Array], jax.Array
]
"""entropy_fn(cfg, pol, state, batch, key) -> a scalar policy-entropy estimate for the
temperature step; evaluated only on the updates that step alpha (it may be expensive)."""


def make_diffusion_policy(cfg: ConfigDict, obs_size: int, action_size: int) -> DiffusionPolicy:
    hidden = tuple(cfg.hidden)
    return DiffusionPolicy(
        eps_net=NoisePredictor(action_size, obs_size, hidden, cfg.time_dim, cfg.activation),
        critic_net=CriticEnsemble(cfg.num_critics, tuple(cfg.critic_hidden) or hidden,
                                  cfg.activation),
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
    delayed steps cost nothing. Its metrics are weighted by whether it ran (skipped steps report
    zeros that no average counts)."""

    def run(params, opt_state):
        (loss, metrics), grads = value_and_mean_grad(loss_fn, has_aux=True)(params)
        params, opt_state = adam_step(optimizer, grads, opt_state, params)
        gnorm = optax.global_norm(grads)
        return params, opt_state, {**metrics, "policy/loss": loss, "policy/grad_norm": gnorm}

    params, opt_state, metrics = cond_or_zeros(do, run, params, opt_state)
    return params, opt_state, gated(metrics, do)


def next_action(
    cfg: ConfigDict,
    pol: DiffusionPolicy,
    state: DiffusionAgentState,
    next_obs: jax.Array,
    alpha: jax.Array,
    k_sample: jax.Array,
    k_noise: jax.Array,
) -> NextActions:
    """a' for the TD target: best-of-N from the online policy and the pre-update critics, plus
    exploration noise (official: the target uses a noisy, not the greedy, next action).

    Its metrics compare how much Q varies between a state's particles (the only within-state
    signal best-of-N selection and DPMD's weights can act on) with how much it varies between
    states (which DPMD's batch-normalised weights exp(Q/lambda) mostly reweight)."""
    a_next, particles, q = pol.best_of_n_with_particles(state.policy, state.critic, next_obs,
                                                        k_sample, cfg.num_particles)
    metrics = {"particles/q_std_within_state": q.std(axis=-1).mean(),
               "particles/q_std_across_states": q.mean(axis=-1).std()}
    a_next = explore(a_next, alpha, cfg.noise_scale, k_noise, cfg.clip_exploration)
    return NextActions(a_next, particles, q, metrics)


def td_value(
    cfg: ConfigDict, pol: DiffusionPolicy, target_critic: Params, batch: Transition,
    a_next: jax.Array,
) -> jax.Array:
    """y = reward_scale r + gamma (1 - done) min_i Qbar_i(s', a'): no entropy term (official)."""
    next_v = pol.q_min(target_critic, batch.next_obs, a_next)
    return td_target(batch.reward, batch.done, next_v, cfg.gamma, cfg.reward_scale)


def diffusion_temperature_step(
    cfg: ConfigDict,
    pol: DiffusionPolicy,
    opts: Optimizers,
    state: DiffusionAgentState,
    batch: Transition,
    key: jax.Array,
    action_size: int,
    entropy_fn: EntropyFn | None = None,
) -> tuple[jax.Array, Any, Metrics]:
    """The temperature step, every `alpha_update_every` updates. Without `entropy_fn` it uses the
    official Gaussian entropy proxy (cheap: computed and logged every update, `entropy_proxy`);
    with one, the estimate runs under lax.cond only on the updates that step alpha and is logged
    as `entropy/estimate`, averaged over those updates (weighted by whether it ran).
    Returns (log_alpha, alpha_opt, metrics)."""
    do = state.step % cfg.alpha_update_every == 0
    if entropy_fn is None:
        alpha = jnp.exp(state.log_alpha)
        entropy = gaussian_entropy_proxy(alpha, action_size, cfg.entropy_noise_scale)
        metrics = {"entropy_proxy": entropy}
    else:
        estimate = lambda: entropy_fn(cfg, pol, state, batch, key).astype(jnp.float32)  # noqa: E731
        entropy = jax.lax.cond(do, estimate, lambda: zeros_like_type(jax.eval_shape(estimate)))
        metrics = gated({"entropy/estimate": entropy}, do)
    log_alpha, alpha_opt = temperature_step(
        opts.alpha, state.log_alpha, state.alpha_opt, entropy,
        cfg.target_entropy_per_dim * action_size, do,
    )
    return log_alpha, alpha_opt, metrics


def make_diffusion_agent(
    cfg: ConfigDict,
    obs_size: int,
    action_size: int,
    policy_step: PolicyStep,
    entropy_fn: EntropyFn | None = None,
) -> Agent:
    """Build init/act/update for a diffusion actor-critic whose policy step is the algorithm's
    (`policy_step`); `entropy_fn` replaces the Gaussian entropy proxy in the temperature step."""
    pol = make_diffusion_policy(cfg, obs_size, action_size)
    opts = make_optimizers(cfg)

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
        nxt = next_action(cfg, pol, state, batch.next_obs, alpha, k_next, k_noise)
        y = td_value(cfg, pol, state.target_critic, batch, nxt.action)

        # 2. Critic step.
        c = critic_step(pol.critic_net.apply, opts.critic, state.critic, state.critic_opt, batch, y)
        critic, critic_opt = c.params, c.opt_state

        # 3. Policy step (delayed).
        do_policy = state.step % cfg.policy_delay == 0
        ctx = StepContext(alpha, nxt.action, state.critic, critic, nxt.particles, nxt.q)
        policy, policy_opt, q_stats, p_metrics = policy_step(
            cfg, pol, opts, state, batch, ctx, do_policy, k_pol
        )

        # 4. Temperature (Gaussian entropy proxy, or the algorithm's estimate).
        log_alpha, alpha_opt, t_metrics = diffusion_temperature_step(
            cfg, pol, opts, state, batch, jax.random.fold_in(k_pol, 1), action_size, entropy_fn
        )

        # DPMD quirk: a second Adam step with the same critic gradients (§6.4).
        if cfg.get("double_critic_step", False):
            critic, critic_opt = adam_step(opts.critic, c.grads, critic_opt, critic)

        # 5. Targets.
        do_target = state.step % cfg.target_update_every == 0
        target_critic = polyak_if(do_target, state.target_critic, critic, cfg.tau)
        target_policy = polyak_if(do_target, state.target_policy, policy, cfg.tau)

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
            "critic/loss": c.loss,
            "critic/q_mean": c.q.mean(),
            "critic/target_mean": y.mean(),
            "alpha": alpha,
            **t_metrics,
            "q_stats/mean": q_stats.mean,
            "q_stats/std": q_stats.std,
            **nxt.metrics,
            **p_metrics,
        }
        return new_state, metrics

    return Agent(init=init, act=act, update=update)
