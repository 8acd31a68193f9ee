"""SAC baseline (docs/ALGORITHMS.md §7): tanh-squashed Gaussian policy with the correct tanh
log-density, twin critics with a soft (entropy) backup, automatic temperature towards -d nats.
Same reward scale, widths, batch and critic ensemble as the diffusion agents, so comparisons are
fair. `update` composes the named steps below (`sac_td_value`, `critic_step`, `sac_policy_step`,
`temperature_step`, `polyak_if`)."""

from __future__ import annotations

import math
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
    critic_step,
    polyak_if,
    td_target,
    temperature_step,
    tree_where,
    value_and_mean_grad,
)
from mjxrsm.core.replay import Transition
from mjxrsm.models.networks import CriticEnsemble, GaussianPolicy, tanh_gaussian_sample


@struct.dataclass
class SACState:
    policy: Params
    critic: Params
    target_critic: Params
    policy_opt: Any
    critic_opt: Any
    log_alpha: jax.Array
    alpha_opt: Any
    step: jax.Array


class SACNets(NamedTuple):
    policy: GaussianPolicy
    critic: CriticEnsemble


class SACOptimizers(NamedTuple):
    policy: optax.GradientTransformation
    critic: optax.GradientTransformation
    alpha: optax.GradientTransformation


def make_nets(cfg: ConfigDict, action_size: int) -> SACNets:
    hidden = tuple(cfg.hidden)
    return SACNets(GaussianPolicy(action_size, hidden, cfg.activation),
                   CriticEnsemble(cfg.num_critics, hidden, cfg.activation))


def make_optimizers(cfg: ConfigDict) -> SACOptimizers:
    return SACOptimizers(optax.adam(cfg.lr), optax.adam(cfg.critic_lr), optax.adam(cfg.alpha_lr))


def sample(nets: SACNets, policy: Params, obs: jax.Array, key: jax.Array):
    """A squashed-Gaussian action and its log-density (tanh-corrected)."""
    mean, log_std = nets.policy.apply(policy, obs)
    return tanh_gaussian_sample(mean, log_std, key)


def sac_td_value(
    cfg: ConfigDict, nets: SACNets, target_critic: Params, batch: Transition, alpha: jax.Array,
    a_next: jax.Array, logp_next: jax.Array,
) -> jax.Array:
    """Soft backup: y = reward_scale r + gamma (1 - done) (min_i Qbar_i(s', a') - alpha log pi)."""
    q_next = nets.critic.apply(target_critic, batch.next_obs, a_next).min(0)
    return td_target(
        batch.reward, batch.done, q_next - alpha * logp_next, cfg.gamma, cfg.reward_scale
    )


def sac_policy_step(
    nets: SACNets, opts: SACOptimizers, state: SACState, critic: Params, batch: Transition,
    alpha: jax.Array, do: jax.Array, key: jax.Array,
) -> tuple[Params, Any, jax.Array, jax.Array]:
    """The reparameterised policy step on E[alpha log pi - min Q] with the updated critics,
    taken when `do` holds. Returns (policy, opt, loss, log pi of the batch's sampled actions)."""

    def loss_fn(policy):
        a, logp = sample(nets, policy, batch.obs, key)
        q_pi = nets.critic.apply(critic, batch.obs, a).min(0)
        return jnp.mean(alpha * logp - q_pi), logp

    (loss, logp), grads = value_and_mean_grad(loss_fn, has_aux=True)(state.policy)
    new_policy, new_opt = adam_step(opts.policy, grads, state.policy_opt, state.policy)
    policy = tree_where(do, new_policy, state.policy)
    policy_opt = tree_where(do, new_opt, state.policy_opt)
    return policy, policy_opt, loss, logp


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    nets = make_nets(cfg, action_size)
    opts = make_optimizers(cfg)
    target_entropy = cfg.target_entropy_per_dim * action_size

    def init(key: jax.Array) -> SACState:
        ka, kc = jax.random.split(key)
        obs, act = jnp.zeros((1, obs_size)), jnp.zeros((1, action_size))
        policy = nets.policy.init(ka, obs)
        critic = nets.critic.init(kc, obs, act)
        log_alpha = jnp.asarray(math.log(cfg.alpha_init), jnp.float32)
        return SACState(
            policy=policy, critic=critic, target_critic=critic,
            policy_opt=opts.policy.init(policy), critic_opt=opts.critic.init(critic),
            log_alpha=log_alpha, alpha_opt=opts.alpha.init(log_alpha),
            step=jnp.zeros((), jnp.int32),
        )

    def act(state: SACState, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        if deterministic:
            return jnp.tanh(nets.policy.apply(state.policy, obs)[0])
        return sample(nets, state.policy, obs, key)[0]

    def update(state: SACState, batch: Transition, key: jax.Array) -> tuple[SACState, Metrics]:
        k_next, k_pi = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)

        a_next, logp_next = sample(nets, state.policy, batch.next_obs, k_next)
        y = sac_td_value(cfg, nets, state.target_critic, batch, alpha, a_next, logp_next)
        c = critic_step(nets.critic.apply, opts.critic, state.critic, state.critic_opt, batch, y)

        do_policy = state.step % cfg.policy_delay == 0
        policy, policy_opt, p_loss, logp = sac_policy_step(
            nets, opts, state, c.params, batch, alpha, do_policy, k_pi
        )

        entropy = -jax.lax.stop_gradient(logp).mean()
        log_alpha, alpha_opt = temperature_step(
            opts.alpha, state.log_alpha, state.alpha_opt, entropy, target_entropy
        )

        do_target = state.step % cfg.target_update_every == 0
        new_state = SACState(
            policy=policy, critic=c.params,
            target_critic=polyak_if(do_target, state.target_critic, c.params, cfg.tau),
            policy_opt=policy_opt, critic_opt=c.opt_state,
            log_alpha=log_alpha, alpha_opt=alpha_opt, step=state.step + 1,
        )
        return new_state, {
            "critic/loss": c.loss,
            "critic/q_mean": c.q.mean(),
            "critic/target_mean": y.mean(),
            "policy/loss": p_loss,
            "alpha": alpha,
            "entropy": entropy,
        }

    return Agent(init=init, act=act, update=update)
