"""Running observation normalisation (optional, `config.normalize_obs`).

Raw observations go into the replay buffer; the agent sees (obs - mean) / std with the *current*
statistics, both when acting and when sampling batches, so the buffer never goes stale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

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

    def normalize(self, obs: jax.Array, enabled: bool) -> jax.Array:
        if not enabled:
            return obs
        std = jnp.sqrt(self.m2 / jnp.maximum(self.count, 1.0) + 1e-8)
        return jnp.clip((obs - self.mean) / std, -10.0, 10.0)
