"""SAC baseline (ALGORITHMS.md §7): tanh-squashed Gaussian actor with the correct tanh log-density,
twin critics with a soft (entropy) backup, automatic temperature towards -d nats. Same reward
scale, widths, batch and critic ensemble as the diffusion agents, so comparisons are fair."""

from __future__ import annotations

import math
from typing import Any

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
    critic_loss_fn,
    polyak,
    td_target,
    tree_where,
)
from mjxrsm.networks import CriticEnsemble, GaussianActor, tanh_gaussian_sample
from mjxrsm.replay import Transition


@struct.dataclass
class SACState:
    actor: Params
    critic: Params
    target_critic: Params
    actor_opt: Any
    critic_opt: Any
    log_alpha: jax.Array
    alpha_opt: Any
    step: jax.Array


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    hidden = tuple(cfg.hidden)
    actor_net = GaussianActor(action_size, hidden, cfg.activation)
    critic_net = CriticEnsemble(cfg.num_critics, hidden, cfg.activation)
    actor_tx, critic_tx, alpha_tx = (
        optax.adam(cfg.lr), optax.adam(cfg.critic_lr), optax.adam(cfg.alpha_lr)
    )
    target_entropy = cfg.target_entropy_per_dim * action_size

    def sample(actor, obs, key):
        mean, log_std = actor_net.apply(actor, obs)
        return tanh_gaussian_sample(mean, log_std, key)

    def init(key: jax.Array) -> SACState:
        ka, kc = jax.random.split(key)
        obs, act = jnp.zeros((1, obs_size)), jnp.zeros((1, action_size))
        actor = actor_net.init(ka, obs)
        critic = critic_net.init(kc, obs, act)
        log_alpha = jnp.asarray(math.log(cfg.alpha_init), jnp.float32)
        return SACState(
            actor=actor, critic=critic, target_critic=critic,
            actor_opt=actor_tx.init(actor), critic_opt=critic_tx.init(critic),
            log_alpha=log_alpha, alpha_opt=alpha_tx.init(log_alpha),
            step=jnp.zeros((), jnp.int32),
        )

    def act(state: SACState, obs: jax.Array, key: jax.Array, deterministic: bool = False):
        if deterministic:
            return jnp.tanh(actor_net.apply(state.actor, obs)[0])
        return sample(state.actor, obs, key)[0]

    def update(state: SACState, batch: Transition, key: jax.Array) -> tuple[SACState, Metrics]:
        k_next, k_pi = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)

        a_next, logp_next = sample(state.actor, batch.next_obs, k_next)
        q_next = critic_net.apply(state.target_critic, batch.next_obs, a_next).min(0)
        y = td_target(
            batch.reward, batch.done, q_next - alpha * logp_next, cfg.gamma, cfg.reward_scale
        )
        (c_loss, q), c_grads = jax.value_and_grad(
            lambda p: critic_loss_fn(critic_net.apply, p, batch.obs, batch.action, y), has_aux=True
        )(state.critic)
        critic, critic_opt = adam_step(critic_tx, c_grads, state.critic_opt, state.critic)

        def actor_loss(actor):
            a, logp = sample(actor, batch.obs, k_pi)
            q_pi = critic_net.apply(critic, batch.obs, a).min(0)
            return jnp.mean(alpha * logp - q_pi), logp

        (a_loss, logp), a_grads = jax.value_and_grad(actor_loss, has_aux=True)(state.actor)
        do_policy = state.step % cfg.policy_delay == 0
        new_actor, new_actor_opt = adam_step(actor_tx, a_grads, state.actor_opt, state.actor)
        actor = tree_where(do_policy, new_actor, state.actor)
        actor_opt = tree_where(do_policy, new_actor_opt, state.actor_opt)

        entropy = -jax.lax.stop_gradient(logp).mean()
        alpha_grad = jax.grad(lambda la: -la * (target_entropy - entropy))(state.log_alpha)
        log_alpha, alpha_opt = adam_step(alpha_tx, alpha_grad, state.alpha_opt, state.log_alpha)

        do_target = state.step % cfg.target_update_every == 0
        target_critic = tree_where(
            do_target, polyak(state.target_critic, critic, cfg.tau), state.target_critic
        )
        new_state = SACState(
            actor=actor, critic=critic, target_critic=target_critic,
            actor_opt=actor_opt, critic_opt=critic_opt,
            log_alpha=log_alpha, alpha_opt=alpha_opt, step=state.step + 1,
        )
        return new_state, {
            "critic/loss": c_loss,
            "critic/q_mean": q.mean(),
            "critic/target_mean": y.mean(),
            "policy/loss": a_loss,
            "alpha": alpha,
            "entropy": entropy,
        }

    return Agent(init=init, act=act, update=update)
