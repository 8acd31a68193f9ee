"""The fused, accelerator-resident trainer: `make_trainer(config)` -> jitted chunks.

    train_chunk(state) = lax.scan over `iters_per_chunk` iterations of
        act (all envs, vmapped)  ->  MJX step with auto-reset  ->  ring-buffer insert
        ->  `updates_per_iter` gradient updates (a lax.scan of agent.update)

The whole chunk is one XLA program with the TrainState donated: no host transfer happens inside,
and the host sees the state only between chunks (logging, evaluation, checkpoints).

Data parallel over `config.mesh.devices` (mjxrsm/core/sharding.py): the chunk is one `shard_map`
(untyped, see sharding.py) on a 1-D mesh; the functions below are written per device. Leaves
with a leading `num_envs` axis and the replay rows are split over the devices, each device
stepping its envs, filling its own ring and sampling its share of every batch; the agent and
everything else is replicated, and the agents average their gradients (agents/base.py).
`num_envs`, `batch_size`, `replay_capacity` and `utd_ratio` keep their global meaning. With one
device the same functions are jitted without the shard_map: bit for bit the unsharded trainer
(see `on_mesh`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from ml_collections import ConfigDict

from mjxrsm.agents import make_agent
from mjxrsm.agents.base import Agent, cond_or_zeros
from mjxrsm.config.check import divisibility_errors
from mjxrsm.core import replay, sharding
from mjxrsm.core.episodes import make_evaluator
from mjxrsm.core.metrics import aggregate_metrics, as_weighted, mean_over_updates
from mjxrsm.core.normalization import ObservedAgent, ObsStats
from mjxrsm.core.replay import ReplayState, Transition
from mjxrsm.core.schedule import UpdateSchedule
from mjxrsm.core.sharding import DATA, device_key, local_rows
from mjxrsm.envs import make_env
from mjxrsm.envs.base import Env, EnvState
from mjxrsm.envs.options import env_kwargs
from mjxrsm.envs.wrappers import wrap_for_training


@struct.dataclass
class TrainState:
    agent: Any
    env: EnvState  # leaves have a leading [num_envs] axis (split over the devices)
    buffer: ReplayState  # rows split over the devices: device d's ring is the d-th block
    obs_stats: ObsStats
    key: jax.Array
    env_steps: jax.Array  # transitions so far, warm-up included (int32: the host reads
    #                       iteration * num_envs, see Trainer.env_steps)
    iteration: jax.Array  # vector steps taken so far, warm-up included (int32)
    updates: jax.Array  # gradient updates taken so far (int32)


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Jitted entry points plus the static facts the host loop needs."""

    config: ConfigDict
    env: Env
    agent: Agent
    observed: ObservedAgent  # the agent behind its input layer (observation normalisation)
    mesh: Mesh
    specs: TrainState  # each leaf's PartitionSpec on `mesh`
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

    @property
    def num_devices(self) -> int:
        return self.mesh.size

    def env_steps(self, state: TrainState) -> int:
        """Env steps collected so far (warm-up included), exact past 2^31: the device counter
        `state.env_steps` is int32 (JAX runs without x64) and wraps there; `iteration` (vector
        steps) times `num_envs` does not until 2^31 vector steps."""
        return int(state.iteration) * self.config.num_envs

    @staticmethod
    def updates(state: TrainState) -> int:
        """Gradient updates so far, read as unsigned: exact to 2^32 (the int32 counter wraps)."""
        return int(np.asarray(state.updates).astype(np.int64) % 2**32)

    def shardings(self) -> TrainState:
        """Each TrainState leaf's NamedSharding (checkpoint restore, tests)."""
        return jax.tree.map(lambda p: NamedSharding(self.mesh, p), self.specs)


def state_specs(state: TrainState) -> TrainState:
    """The layout: env leaves and replay rows split over `data` on their leading axis; the ring
    cursor (the same on every device), agent, statistics, key and counters replicated."""
    split = lambda tree: jax.tree.map(lambda _: P(DATA), tree)  # noqa: E731
    rep = lambda tree: jax.tree.map(lambda _: P(), tree)  # noqa: E731
    return TrainState(
        agent=rep(state.agent),
        env=split(state.env),
        buffer=ReplayState(data=split(state.buffer.data), insert_pos=P(), size=P()),
        obs_stats=rep(state.obs_stats),
        key=P(),
        env_steps=P(),
        iteration=P(),
        updates=P(),
    )


def make_trainer(config: ConfigDict, devices: list[jax.Device] | None = None) -> Trainer:
    """Build env, agent and buffer from `config` and return the jitted chunk functions, data
    parallel over `devices` (default: `config.mesh.devices`, see sharding.resolve_devices)."""
    if devices is None:
        devices = sharding.resolve_devices(config.get("mesh", {}).get("devices", 1))
    n_dev = len(devices)
    errors = divisibility_errors(config, n_dev)
    if errors:
        raise ValueError("; ".join(errors))
    mesh = sharding.make_mesh(devices)
    episode_length = config.env.episode_length or None  # 0: the task's own limit
    env = wrap_for_training(make_env(config.env.name, **env_kwargs(config)), episode_length)
    obs_size, act_size = env.observation_size, env.action_size
    agent = make_agent(config.algo, obs_size, act_size)
    num_envs = config.num_envs
    sched = UpdateSchedule.from_ratio(config.utd_ratio, num_envs)
    iters_per_chunk = max(1, config.log_every // num_envs)
    warmup_iters = -(-config.start_steps // num_envs)
    batch_size = config.algo.batch_size
    if config.replay_capacity < batch_size:
        raise ValueError("replay_capacity must be >= algo.batch_size")
    local_batch = batch_size // n_dev  # each device's share of every batch
    observed = ObservedAgent(agent, bool(config.normalize_obs))
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
        return TrainState(
            agent=agent.init(k_agent),
            # One key per global env index: the same resets whatever the device count.
            env=v_reset(local_rows(jax.random.split(k_env, num_envs))),
            buffer=replay.init(config.replay_capacity // sharding.axis_size(), example),  # ring
            obs_stats=ObsStats.init(obs_size),
            key=k_run,
            env_steps=jnp.zeros((), jnp.int32),
            iteration=jnp.zeros((), jnp.int32),
            updates=jnp.zeros((), jnp.int32),
        )

    def collect(state: TrainState, key: jax.Array, random_actions: bool):
        """One vector step of this device's envs: act, step, insert into its ring."""
        obs = state.env.obs
        if random_actions:  # drawn for all envs, so warm-up rows do not depend on the mesh
            action = local_rows(
                jax.random.uniform(key, (num_envs, act_size), minval=-1.0, maxval=1.0)
            )
        else:
            action = observed.act(state.agent, state.obs_stats, obs, device_key(key))
        env_state = sharding.as_local(v_step(state.env, action))  # carry type: per device
        # next_obs is the true last observation of an ended episode, not the reset one; `done`
        # is termination only, so truncated episodes bootstrap.
        tr = Transition(obs, action, env_state.reward, env_state.info["final_obs"],
                        env_state.terminated)
        info = env_state.info
        ended = jnp.logical_or(env_state.terminated > 0, env_state.truncated > 0)
        env_metrics = {
            "reward": env_state.reward.mean(),
            "completed_count": ended.sum().astype(jnp.float32),
            "completed_return": jnp.where(ended, info["completed_return"], 0.0).sum(),
            "completed_length": jnp.where(ended, info["completed_length"], 0).sum()
            .astype(jnp.float32),
        }
        if "physics_diverged" in info:  # simulations the engine flagged (episode ended)
            env_metrics["physics_diverged"] = info["physics_diverged"].sum()
        state = state.replace(
            env=env_state,
            buffer=replay.insert(state.buffer, tr),
            obs_stats=observed.observe(state.obs_stats, obs),
            env_steps=state.env_steps + num_envs,
            iteration=state.iteration + 1,
        )
        return state, env_metrics

    def update_many(state: TrainState, key: jax.Array):
        """`per_iter` updates, each on `batch_size/n` rows of this device's ring (the agents
        average the gradients over devices)."""
        def one(agent_state, k):
            k_sample, k_update = jax.random.split(k)
            b = replay.sample(state.buffer, k_sample, local_batch)
            return observed.update(agent_state, state.obs_stats, b, k_update)

        keys = jax.random.split(device_key(key), sched.per_iter)
        agent_state, metrics = jax.lax.scan(one, state.agent, keys)
        metrics = mean_over_updates(metrics)
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
        return state, (env_metrics, as_weighted(upd_metrics, applied), applied)

    def warmup_iteration(state: TrainState, _):
        key, k_act = jax.random.split(state.key)
        return collect(state.replace(key=key), k_act, random_actions=True)

    def train_chunk(state: TrainState):
        state, metrics = jax.lax.scan(train_iteration, state, None, length=iters_per_chunk)
        return state, aggregate_metrics(*metrics)

    def warmup_chunk(state: TrainState):
        state, metrics = jax.lax.scan(warmup_iteration, state, None, length=max(warmup_iters, 1))
        return state, aggregate_metrics(metrics)

    evaluator = make_evaluator(env, observed, config.eval_episodes)

    def evaluate(state: TrainState, key: jax.Array) -> dict:
        return evaluator(state.agent, state.obs_stats, key)

    # The layout, from the unsharded state's structure (no computation).
    specs = state_specs(jax.eval_shape(init, jax.random.PRNGKey(0)))

    def on_mesh(fn, in_specs, out_specs):
        # One device: the per-device functions are the whole computation, jitted as they are.
        # (A shard_map of one device computes the same values, but its trivial all-reduces
        # change XLA's fusions and with them the last bit of some critic gradients.)
        if n_dev == 1:
            return fn
        return sharding.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs)

    chunk = lambda fn: on_mesh(fn, (specs,), (specs, P()))  # noqa: E731
    return Trainer(
        config=config,
        env=env,
        agent=agent,
        observed=observed,
        mesh=mesh,
        specs=specs,
        schedule=sched,
        iters_per_chunk=iters_per_chunk,
        warmup_iters=warmup_iters,
        init=jax.jit(on_mesh(init, (P(),), specs)),
        warmup_chunk=jax.jit(chunk(warmup_chunk), donate_argnums=0),
        train_chunk=jax.jit(chunk(train_chunk), donate_argnums=0),
        evaluate=jax.jit(on_mesh(evaluate, (specs, P()), P())),
    )
