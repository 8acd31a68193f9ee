"""Replay ring buffer: exact contents, wrap-around, sampling support, jit + donation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mjxrsm.core import replay
from mjxrsm.core.replay import Transition

OBS_DIM, ACT_DIM = 3, 2


def _example() -> Transition:
    return Transition(
        obs=jnp.zeros(OBS_DIM),
        action=jnp.zeros(ACT_DIM),
        reward=jnp.zeros(()),
        next_obs=jnp.zeros(OBS_DIM),
        done=jnp.zeros(()),
    )


def _batch(ids) -> Transition:
    """Transitions whose every field encodes its id, so a row can be traced back to its insert."""
    ids = jnp.asarray(ids, jnp.float32)
    return Transition(
        obs=ids[:, None] * jnp.ones(OBS_DIM),
        action=-ids[:, None] * jnp.ones(ACT_DIM),
        reward=ids,
        next_obs=ids[:, None] * jnp.arange(1, OBS_DIM + 1, dtype=jnp.float32),
        done=(ids % 2).astype(jnp.float32),
    )


def _assert_rows(state: replay.ReplayState, expected_ids) -> None:
    """Row i of every field must encode expected_ids[i] (0 = never written)."""
    expected = _batch(expected_ids)
    for got, want in zip(state.data, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_init_shapes_and_dtypes():
    ex = _example()._replace(done=jnp.zeros((), jnp.int32))
    state = replay.init(7, ex)
    assert state.capacity == 7
    assert state.data.obs.shape == (7, OBS_DIM)
    assert state.data.action.shape == (7, ACT_DIM)
    assert state.data.reward.shape == (7,)
    assert state.data.done.dtype == jnp.int32
    assert int(state.size) == 0 and int(state.insert_pos) == 0
    assert state.size.dtype == jnp.int32 and state.insert_pos.dtype == jnp.int32
    assert all(float(jnp.abs(x).sum()) == 0.0 for x in state.data)


def test_inserts_with_wrap_around_exact_contents():
    state = replay.init(5, _example())
    state = replay.insert(state, _batch([1, 2, 3]))
    assert (int(state.size), int(state.insert_pos)) == (3, 3)
    _assert_rows(state, [1, 2, 3, 0, 0])

    # 3 more: fills rows 3, 4 and wraps onto row 0.
    state = replay.insert(state, _batch([4, 5, 6]))
    assert (int(state.size), int(state.insert_pos)) == (5, 1)
    _assert_rows(state, [6, 2, 3, 4, 5])

    # 4 more: rows 1..4 overwritten, cursor lands back on 0.
    state = replay.insert(state, _batch([7, 8, 9, 10]))
    assert (int(state.size), int(state.insert_pos)) == (5, 0)
    _assert_rows(state, [6, 7, 8, 9, 10])

    state = replay.insert(state, _batch([11]))
    assert (int(state.size), int(state.insert_pos)) == (5, 1)
    _assert_rows(state, [11, 7, 8, 9, 10])


def test_insert_n_equal_capacity():
    state = replay.init(4, _example())
    state = replay.insert(state, _batch([1, 2]))
    # A full-capacity batch starting mid-buffer overwrites every row exactly once.
    state = replay.insert(state, _batch([3, 4, 5, 6]))
    assert (int(state.size), int(state.insert_pos)) == (4, 2)
    _assert_rows(state, [5, 6, 3, 4])


def test_insert_larger_than_capacity_raises():
    state = replay.init(4, _example())
    with pytest.raises(ValueError, match="capacity 4"):
        replay.insert(state, _batch([1, 2, 3, 4, 5]))


def test_insert_mismatched_row_shape_raises():
    state = replay.init(4, _example())
    bad = _batch([1, 2])._replace(obs=jnp.zeros((2, OBS_DIM + 1)))
    with pytest.raises(ValueError, match="row shape"):
        replay.insert(state, bad)


def test_sample_only_filled_rows_and_all_reachable():
    capacity, filled = 16, 5
    state = replay.init(capacity, _example())
    state = replay.insert(state, _batch(np.arange(1, filled + 1)))
    batch = replay.sample(state, jax.random.PRNGKey(0), 4096)
    ids = np.asarray(batch.reward)
    assert batch.obs.shape == (4096, OBS_DIM)
    # Unwritten rows hold id 0; filled rows hold ids 1..filled.
    assert set(ids.tolist()) == set(range(1, filled + 1))
    # Whole rows come together (fields of one sample belong to the same transition).
    np.testing.assert_array_equal(np.asarray(batch.obs[:, 0]), ids)
    np.testing.assert_array_equal(np.asarray(batch.action[:, 1]), -ids)

    # Roughly uniform: each of 5 rows expected 819 times out of 4096.
    counts = np.bincount(ids.astype(int), minlength=filled + 1)[1:]
    assert counts.min() > 700 and counts.max() < 950, counts


def test_sample_after_wrap_covers_whole_buffer():
    state = replay.init(6, _example())
    for start in range(1, 12, 3):  # 4 inserts of 3 -> 12 transitions into 6 rows
        state = replay.insert(state, _batch(np.arange(start, start + 3)))
    batch = replay.sample(state, jax.random.PRNGKey(1), 2000)
    # Only the 6 newest transitions survive, and all of them are drawn.
    assert set(np.asarray(batch.reward).astype(int).tolist()) == set(range(7, 13))


def test_jit_with_donation_and_scan():
    state = replay.init(8, _example())
    insert = jax.jit(replay.insert, donate_argnums=0)
    old_data = state.data
    state = insert(state, _batch([1, 2, 3]))
    # The donated input buffer was consumed: XLA updated it in place instead of copying.
    assert old_data.obs.is_deleted()
    state = insert(state, _batch([4, 5, 6]))
    state = insert(state, _batch([7, 8, 9]))
    assert (int(state.size), int(state.insert_pos)) == (8, 1)
    _assert_rows(state, [9, 2, 3, 4, 5, 6, 7, 8])

    # Insert + sample inside lax.scan with a traced cursor.
    @jax.jit
    def run(state, key):
        def body(s, xs):
            ids, k = xs
            s = replay.insert(s, _batch(ids))
            return s, replay.sample(s, k, 4).reward

        ids = jnp.arange(10, 22, dtype=jnp.float32).reshape(4, 3)
        return jax.lax.scan(body, state, (ids, jax.random.split(key, 4)))

    state, sampled = run(state, jax.random.PRNGKey(2))
    assert (int(state.size), int(state.insert_pos)) == (8, 5)
    _assert_rows(state, [17, 18, 19, 20, 21, 14, 15, 16])
    assert sampled.shape == (4, 4)
