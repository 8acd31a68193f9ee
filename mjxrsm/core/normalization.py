"""Running observation normalisation (optional, `config.normalize_obs`), applied at one place:
the agent's input.

Raw observations go into the replay buffer; the agent sees (obs - mean) / std with the *current*
statistics, both when acting and when learning from sampled batches, so the buffer never goes
stale. `ObservedAgent` is that input layer: the trainer, the evaluator and a loaded policy hand it
raw observations and the statistics, and none of them knows whether normalisation is on (Brax
passes its normaliser into the networks for the same reason).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from mjxrsm.agents.base import Agent, Metrics
from mjxrsm.core.replay import Transition
from mjxrsm.core.sharding import axis_size, data_mean, data_sum, is_local


@struct.dataclass
class ObsStats:
    count: jax.Array  # [] float32
    mean: jax.Array  # [obs_dim]
    m2: jax.Array  # [obs_dim] sum of squared deviations (Chan et al. parallel update)

    @classmethod
    def init(cls, obs_size: int) -> ObsStats:
        return cls(jnp.zeros(()), jnp.zeros((obs_size,)), jnp.zeros((obs_size,)))

    def update(self, batch: jax.Array) -> ObsStats:
        """Merge a batch [N, obs_dim] into the running moments. A batch sharded over devices is
        merged as the one global batch (its mean, then squared deviations from that mean)."""
        n = batch.shape[0] * (axis_size() if is_local(batch) else 1)
        b_mean = data_mean(batch.mean(0))
        b_m2 = data_sum(jnp.square(batch - b_mean).sum(0))
        total = self.count + n
        delta = b_mean - self.mean
        mean = self.mean + delta * n / total
        m2 = self.m2 + b_m2 + jnp.square(delta) * self.count * n / total
        return ObsStats(total, mean, m2)

    def normalize(self, obs: jax.Array) -> jax.Array:
        """(obs - mean) / std, clipped to [-10, 10]."""
        std = jnp.sqrt(self.m2 / jnp.maximum(self.count, 1.0) + 1e-8)
        return jnp.clip((obs - self.mean) / std, -10.0, 10.0)


@dataclasses.dataclass(frozen=True)
class ObservedAgent:
    """An agent behind its input layer: `act` and `update` take raw observations plus the run's
    `ObsStats`, and the networks see them normalised when `normalize` is on, unchanged when off.
    `observe` merges a vector step's observations into the statistics (a no-op when off)."""

    agent: Agent
    normalize: bool

    def input(self, stats: ObsStats, obs: jax.Array) -> jax.Array:
        return stats.normalize(obs) if self.normalize else obs

    def observe(self, stats: ObsStats, obs: jax.Array) -> ObsStats:
        return stats.update(obs) if self.normalize else stats

    def act(self, agent_state: Any, stats: ObsStats, obs: jax.Array, key: jax.Array,
            deterministic: bool = False) -> jax.Array:
        return self.agent.act(agent_state, self.input(stats, obs), key,
                              deterministic=deterministic)

    def update(self, agent_state: Any, stats: ObsStats, batch: Transition,
               key: jax.Array) -> tuple[Any, Metrics]:
        batch = batch._replace(obs=self.input(stats, batch.obs),
                               next_obs=self.input(stats, batch.next_obs))
        return self.agent.update(agent_state, batch, key)
