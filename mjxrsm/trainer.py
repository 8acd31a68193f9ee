"""The fused, accelerator-resident trainer: `make_trainer(config)` -> jitted chunks.

    train_chunk(state) = lax.scan over `iters_per_chunk` iterations of
        act (all envs, vmapped)  ->  MJX step with auto-reset  ->  ring-buffer insert
        ->  `updates_per_iter` gradient updates (a lax.scan of agent.update)

The whole chunk is one XLA program with the TrainState donated: no host transfer happens inside,
and the host sees the state only between chunks (logging, evaluation, checkpoints). Every array in
TrainState that is per-environment has a leading `num_envs` axis, so it can later be sharded
across devices without redesign.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from ml_collections import ConfigDict

from mjxrsm import replay
from mjxrsm.agents import make_agent
from mjxrsm.agents.base import Agent, cond_or_zeros
from mjxrsm.envs import make_env
from mjxrsm.envs.base import Env, EnvState
from mjxrsm.envs.options import env_kwargs
from mjxrsm.envs.wrappers import wrap_for_training
from mjxrsm.evaluation import make_evaluator
from mjxrsm.normalization import ObsStats
from mjxrsm.replay import ReplayState, Transition
from mjxrsm.schedule import UpdateSchedule


@struct.dataclass
class TrainState:
    agent: Any
    env: EnvState  # leaves have a leading [num_envs] axis
    buffer: ReplayState
    obs_stats: ObsStats
    key: jax.Array
    env_steps: jax.Array  # transitions collected so far, warm-up included (int32)
    iteration: jax.Array  # vector steps taken so far, warm-up included (int32)
    updates: jax.Array  # gradient updates taken so far (int32)


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Jitted entry points plus the static facts the host loop needs."""

    config: ConfigDict
    env: Env
    agent: Agent
    schedule: UpdateSchedule
    iters_per_chunk: int
    warmup_iters: int
    init: Callable[[jax.Array], TrainState]
    warmup_chunk: Callable[[TrainState], tuple[TrainState, dict]]
    train_chunk: Callable[[TrainState], tuple[TrainState, dict]]
    evaluate: Callable[[TrainState, jax.Array], dict]

    @property
    def env_steps_per_chunk(self) -> int:
        return self.iters_per_chunk * self.config.num_envs


def _gate(key: str, m: dict[str, jax.Array], policy_groups: tuple[str, ...]):
    """The `applied` flag that gates metric `key` (None: an every-update metric): the policy
    step's for the agent's policy groups, `<group>/applied` for a group that reports one."""
    if key.endswith("/applied"):
        return None
    group = key.split("/")[0]
    return m.get("policy/applied") if group in policy_groups else m.get(f"{group}/applied")


def mean_over_updates(
    m: dict[str, jax.Array], policy_groups: tuple[str, ...] = ("policy",)
) -> dict[str, jax.Array]:
    """Reduce the metrics of one iteration's updates [U] to scalars: a gated metric (see `_gate`)
    is averaged over the updates where its step ran, so that `aggregate_metrics` weighting the
    iterations by the applied fraction gives the mean over all steps that ran."""
    out = {}
    for k, v in m.items():
        w = _gate(k, m, policy_groups)
        out[k] = v.mean(0) if w is None else (v * w).sum(0) / jnp.maximum(w.sum(0), 1.0)
    return out


def aggregate_metrics(
    m: dict[str, jax.Array], policy_groups: tuple[str, ...] = ("policy",)
) -> dict[str, jax.Array]:
    """Reduce per-iteration metrics [iters] to scalars on device.

    Update metrics are averaged over the iterations that ran updates (`update/applied`), the
    agent's policy metrics (`policy_groups`, see `Agent`) over the steps whose policy step ran
    (`policy/applied`), and any other group that reports its own `<group>/applied` over the
    steps where that group ran; episode returns are the mean over episodes completed in the
    chunk (NaN-free: 0 episodes -> reported as count 0).
    """
    out = {}
    upd_w = m.get("update/applied")
    for k, v in m.items():
        if k.endswith("/applied") or k.startswith("env/"):
            continue
        w = _gate(k, m, policy_groups)
        w = upd_w if w is None else w
        if w is None:
            out[k] = v.mean()
        else:
            out[k] = (v * w).sum() / jnp.maximum(w.sum(), 1.0)
    count = m["env/completed_count"].sum()
    out["train/episodes"] = count
    out["train/episode_return"] = m["env/completed_return"].sum() / jnp.maximum(count, 1.0)
    out["train/episode_length"] = m["env/completed_length"].sum() / jnp.maximum(count, 1.0)
    out["train/reward"] = m["env/reward"].mean()
    if upd_w is not None:
        out["update/count"] = upd_w.sum()
    return out


def make_trainer(config: ConfigDict) -> Trainer:
    """Build env, agent and buffer from `config` and return the jitted chunk functions."""
    episode_length = config.env.episode_length or None  # 0: the task's own limit
    env = wrap_for_training(make_env(config.env.name, **env_kwargs(config)), episode_length)
    obs_size, act_size = env.observation_size, env.action_size
    agent = make_agent(config.algo, obs_size, act_size)
    num_envs = config.num_envs
    sched = UpdateSchedule.from_ratio(config.utd_ratio, num_envs)
    iters_per_chunk = max(1, config.log_every // num_envs)
    warmup_iters = -(-config.start_steps // num_envs)
    batch_size = config.algo.batch_size
    normalize = bool(config.normalize_obs)
    v_reset, v_step = jax.vmap(env.reset), jax.vmap(env.step)

    def init(key: jax.Array) -> TrainState:
        k_agent, k_env, k_run = jax.random.split(key, 3)
        example = Transition(
            obs=jnp.zeros((obs_size,)),
            action=jnp.zeros((act_size,)),
            reward=jnp.zeros(()),
            next_obs=jnp.zeros((obs_size,)),
            done=jnp.zeros(()),
        )
        if config.replay_capacity < batch_size:
            raise ValueError("replay_capacity must be >= algo.batch_size")
        return TrainState(
            agent=agent.init(k_agent),
            env=v_reset(jax.random.split(k_env, num_envs)),
            buffer=replay.init(config.replay_capacity, example),
            obs_stats=ObsStats.init(obs_size),
            key=k_run,
            env_steps=jnp.zeros((), jnp.int32),
            iteration=jnp.zeros((), jnp.int32),
            updates=jnp.zeros((), jnp.int32),
        )

    def collect(state: TrainState, key: jax.Array, random_actions: bool):
        """One vector step: act, step all envs, insert the transitions."""
        obs = state.env.obs
        if random_actions:
            action = jax.random.uniform(key, (num_envs, act_size), minval=-1.0, maxval=1.0)
        else:
            action = agent.act(state.agent, state.obs_stats.normalize(obs, normalize), key)
        env_state = v_step(state.env, action)
        # next_obs is the true last observation of an ended episode, not the reset one; `done`
        # is termination only, so truncated episodes bootstrap.
        tr = Transition(obs, action, env_state.reward, env_state.info["final_obs"],
                        env_state.terminated)
        info = env_state.info
        ended = jnp.logical_or(env_state.terminated > 0, env_state.truncated > 0)
        env_metrics = {
            "env/reward": env_state.reward.mean(),
            "env/completed_count": ended.sum().astype(jnp.float32),
            "env/completed_return": jnp.where(ended, info["completed_return"], 0.0).sum(),
            "env/completed_length": jnp.where(ended, info["completed_length"], 0).sum()
            .astype(jnp.float32),
        }
        state = state.replace(
            env=env_state,
            buffer=replay.insert(state.buffer, tr),
            obs_stats=state.obs_stats.update(obs) if normalize else state.obs_stats,
            env_steps=state.env_steps + num_envs,
            iteration=state.iteration + 1,
        )
        return state, env_metrics

    def update_many(state: TrainState, key: jax.Array):
        def one(agent_state, k):
            k_sample, k_update = jax.random.split(k)
            b = replay.sample(state.buffer, k_sample, batch_size)
            b = b._replace(
                obs=state.obs_stats.normalize(b.obs, normalize),
                next_obs=state.obs_stats.normalize(b.next_obs, normalize),
            )
            return agent.update(agent_state, b, k_update)

        agent_state, metrics = jax.lax.scan(one, state.agent, jax.random.split(key, sched.per_iter))
        metrics = mean_over_updates(metrics, agent.policy_metric_groups)
        return state.replace(agent=agent_state, updates=state.updates + sched.per_iter), metrics

    def train_iteration(state: TrainState, _):
        key, k_act, k_upd = jax.random.split(state.key, 3)
        state, env_metrics = collect(state.replace(key=key), k_act, random_actions=False)
        if sched.every == 1:
            state, upd_metrics = update_many(state, k_upd)
            applied = jnp.ones((), jnp.float32)
        else:
            do = state.iteration % sched.every == 0

            def run(s, k):
                s, m = update_many(s, k)
                return s, k, m

            state, _, upd_metrics = cond_or_zeros(do, run, state, k_upd)
            applied = do.astype(jnp.float32)
        return state, {**env_metrics, **upd_metrics, "update/applied": applied}

    def warmup_iteration(state: TrainState, _):
        key, k_act = jax.random.split(state.key)
        return collect(state.replace(key=key), k_act, random_actions=True)

    def train_chunk(state: TrainState):
        state, metrics = jax.lax.scan(train_iteration, state, None, length=iters_per_chunk)
        return state, aggregate_metrics(metrics, agent.policy_metric_groups)

    def warmup_chunk(state: TrainState):
        state, metrics = jax.lax.scan(warmup_iteration, state, None, length=max(warmup_iters, 1))
        return state, aggregate_metrics(metrics, agent.policy_metric_groups)

    evaluator = make_evaluator(env, agent, config.eval_episodes, normalize)

    def evaluate(state: TrainState, key: jax.Array) -> dict:
        return evaluator(state.agent, state.obs_stats, key)

    return Trainer(
        config=config,
        env=env,
        agent=agent,
        schedule=sched,
        iters_per_chunk=iters_per_chunk,
        warmup_iters=warmup_iters,
        init=jax.jit(init),
        warmup_chunk=jax.jit(warmup_chunk, donate_argnums=0),
        train_chunk=jax.jit(train_chunk, donate_argnums=0),
        evaluate=jax.jit(evaluate),
    )
