"""Evaluation: one episode in each of N parallel envs, inside one jitted `lax.while_loop`.

Kept apart from the trainer so any policy (a training state, a checkpoint, a loaded policy) is
evaluated the same way: `play_episodes(env, act, n, key)` plays them for any `act(obs, key)`;
`make_evaluator(env, observed_agent, n)(agent_state, obs_stats, key)` is the trainer's, with
statistics over every device's episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mjxrsm.core.normalization import ObservedAgent, ObsStats
from mjxrsm.core.sharding import (
    as_local,
    axis_size,
    batch_mean,
    batch_std,
    data_max,
    data_min,
    device_key,
    local_rows,
)
from mjxrsm.envs.base import Env, EnvState

Evaluator = Callable[[Any, ObsStats, jax.Array], dict[str, jax.Array]]


class EvalCarry(NamedTuple):
    """The while-loop state: every env runs until its first episode ends (or the time limit)."""

    env_state: EnvState  # leaves [n, ...]
    ret: jax.Array  # [n] return of the first episode so far
    length: jax.Array  # [n] its length so far
    alive: jax.Array  # [n] 1 while the first episode has not ended
    key: jax.Array
    step: jax.Array  # vector steps taken (int32)


def play_episodes(env: Env, act: Callable[[jax.Array, jax.Array], jax.Array],
                  num_episodes: int, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(returns, lengths) of one episode in each of `num_episodes` envs, or of this device's
    share of them inside the trainer's shard_map (the same starts whatever the device count).

    `act(obs [n, o], key) -> actions [n, d]` in [-1, 1]. `env` is the wrapped training task:
    only each env's first episode counts, so its auto-reset does no harm and the task is not
    built twice."""
    k_reset, k_run = jax.random.split(key)
    env_state = jax.vmap(env.reset)(local_rows(jax.random.split(k_reset, num_episodes)))
    k_run = device_key(k_run)
    local = num_episodes // axis_size()

    def body(c: EvalCarry) -> EvalCarry:
        k, k_act = jax.random.split(c.key)
        env_state = jax.vmap(env.step)(c.env_state, act(c.env_state.obs, k_act))
        ret = c.ret + c.alive * env_state.reward
        length = c.length + c.alive
        ended = jnp.logical_or(env_state.terminated > 0, env_state.truncated > 0)
        return EvalCarry(env_state, ret, length, c.alive * (1.0 - ended), k, c.step + 1)

    def cond(c: EvalCarry) -> jax.Array:
        return jnp.logical_and(c.alive.sum() > 0, c.step < env.episode_length)

    zeros = jnp.zeros((local,))
    carry = EvalCarry(*as_local((env_state, zeros, zeros, jnp.ones((local,)), k_run)),
                      jnp.zeros((), jnp.int32))
    out = jax.lax.while_loop(cond, body, carry)
    return out.ret, out.length


def make_evaluator(env: Env, agent: ObservedAgent, num_episodes: int) -> Evaluator:
    """`evaluate(agent_state, obs_stats, key)` -> return/length statistics over `num_episodes`.

    No exploration noise; the explicit key keeps best-of-N sampling stochastic, as in the official
    evaluator. Inside the trainer's shard_map each device plays `num_episodes / n` of the
    episodes and the statistics are over all of them.
    """

    def evaluate(agent_state: Any, obs_stats: ObsStats, key: jax.Array) -> dict[str, jax.Array]:
        def act(obs: jax.Array, k: jax.Array) -> jax.Array:
            return jnp.clip(agent.act(agent_state, obs_stats, obs, k, deterministic=True),
                            -1.0, 1.0)

        ret, length = play_episodes(env, act, num_episodes, key)
        mean = batch_mean(ret)
        return {
            "eval/return_mean": mean,
            "eval/return_std": batch_std(ret, mean),
            "eval/return_min": data_min(ret.min()),
            "eval/return_max": data_max(ret.max()),
            "eval/length_mean": batch_mean(length),
        }

    return evaluate
