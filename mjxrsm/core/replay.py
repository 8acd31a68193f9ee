"""On-device replay ring buffer over a pytree of arrays.

The buffer lives on the accelerator next to the policy, so one jitted training step can collect,
insert and sample without a host round trip. Everything is a pure function of an explicit
`ReplayState`; shapes are static, so the functions compose with `jax.jit` and `jax.lax.scan`.

In-place updates: `insert` writes only the `n` new rows with a scatter. Under
`jax.jit(insert, donate_argnums=0)` (or a jitted train step that donates the state) XLA reuses the
donated buffer and the scatter happens in place, so an insert costs O(n), not O(capacity). Without
donation XLA must keep the old buffer alive and copies it once per call.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct


class Transition(NamedTuple):
    """One environment transition (or a batch of them along a leading axis).

    done is *termination only* (no bootstrapping from `next_obs`). A time-limit truncation is not
    done: the trainer stores the true last observation (`info['final_obs']`) as `next_obs` and
    bootstraps from it.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    done: jax.Array


@struct.dataclass
class ReplayState:
    """Ring buffer contents and write cursor.

    data:       pytree (usually a `Transition`) whose leaves have leading axis `capacity`.
    insert_pos: [] int32 row the next insert starts at.
    size:       [] int32 number of filled rows; rows [0, size) are valid.
    """

    data: Transition
    insert_pos: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        """Static number of rows (transitions) the buffer holds."""
        return jax.tree.leaves(self.data)[0].shape[0]


def init(capacity: int, example: Transition) -> ReplayState:
    """Allocates a zeroed buffer of `capacity` rows shaped like ONE unbatched `example`."""
    if capacity <= 0:
        raise ValueError(f"capacity must be positive, got {capacity}")
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), dtype=jnp.asarray(x).dtype), example
    )
    return ReplayState(
        data=data, insert_pos=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32)
    )


def _batch_len(state: ReplayState, batch: Transition) -> int:
    """Static leading size of `batch`, after checking it matches the buffer's row layout."""
    buf_leaves, buf_def = jax.tree.flatten(state.data)
    batch_leaves, batch_def = jax.tree.flatten(batch)
    if buf_def != batch_def:
        raise ValueError(f"batch structure {batch_def} does not match buffer structure {buf_def}")
    lengths = {jnp.shape(b)[0] if jnp.ndim(b) else None for b in batch_leaves}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(f"all batch leaves need the same leading axis, got lengths {lengths}")
    (n,) = lengths
    for d, b in zip(buf_leaves, batch_leaves, strict=True):
        if jnp.shape(b)[1:] != d.shape[1:]:
            raise ValueError(f"batch row shape {jnp.shape(b)[1:]} != buffer row {d.shape[1:]}")
    if n > state.capacity:
        raise ValueError(
            f"cannot insert {n} transitions at once into a buffer of capacity {state.capacity}; "
            "the later rows would overwrite the earlier ones in the same call"
        )
    return n


def insert(state: ReplayState, batch: Transition) -> ReplayState:
    """Writes a batch with static leading axis n <= capacity at the cursor, wrapping around.

    Only rows `(insert_pos + arange(n)) % capacity` are touched (a scatter, O(n) work); the oldest
    rows are overwritten once the buffer is full.
    """
    n = _batch_len(state, batch)
    if n == 0:
        return state
    capacity = state.capacity
    idx = (state.insert_pos + jnp.arange(n, dtype=jnp.int32)) % capacity
    # n <= capacity, so the indices are distinct and in bounds; telling XLA lets it skip the
    # collision handling of a general scatter.
    data = jax.tree.map(
        lambda d, b: d.at[idx].set(
            jnp.asarray(b, d.dtype), unique_indices=True, mode="promise_in_bounds"
        ),
        state.data,
        batch,
    )
    return ReplayState(
        data=data,
        insert_pos=((state.insert_pos + n) % capacity).astype(jnp.int32),
        size=jnp.minimum(state.size + n, capacity).astype(jnp.int32),
    )


def sample(state: ReplayState, key: jax.Array, batch_size: int) -> Transition:
    """Draws `batch_size` rows uniformly with replacement from the filled part [0, size).

    Requires size > 0; on an empty buffer (which cannot raise under jit) it returns zero rows.
    """
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
    return jax.tree.map(lambda d: d[idx], state.data)
