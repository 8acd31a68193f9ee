"""Training metrics as pytrees that carry their own weights.

An update metric is either a plain array (it describes every update) or `Weighted(value,
weight)`: a metric of a step that runs on only some updates (the delayed policy step, an entropy
estimate taken every N updates) carries the 0/1 flag of whether that step ran, and every
reduction averages it over the steps that ran. The trainer needs no list of metric names or
groups: whoever computes a metric says what it averages over.

Reductions, on device, in the order the trainer applies them:
  `mean_over_updates`   one iteration's updates [U] -> one value per metric (weighted metrics
                        keep, as their weight, the share of the U updates whose step ran)
  `as_weighted`         plain update metrics weighted by whether the iteration ran updates
  `aggregate_metrics`   a chunk's iterations [I] -> scalars, with the env's episode statistics
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mjxrsm.core.sharding import data_mean, data_sum


class Weighted(NamedTuple):
    """A metric averaged with weights (a pytree: it passes through scans and `lax.cond`)."""

    value: jax.Array
    weight: jax.Array


Metric = jax.Array | Weighted


def gated(metrics: Mapping[str, jax.Array], ran: jax.Array) -> dict[str, Weighted]:
    """The metrics of a step that ran where `ran` holds (bool or 0/1), weighted by it."""
    w = jnp.asarray(ran).astype(jnp.float32)
    return {k: Weighted(v, w) for k, v in metrics.items()}


def mean_over_updates(m: Mapping[str, Metric]) -> dict[str, Metric]:
    """Reduce one iteration's update metrics [U] to one value each: a plain metric is the mean
    over the U updates; a weighted one the mean over the updates whose step ran, weighted in
    turn by the share of updates that ran it (so the chunk's mean is over all steps that ran)."""
    out: dict[str, Metric] = {}
    for k, v in m.items():
        if isinstance(v, Weighted):
            w = v.weight
            out[k] = Weighted((v.value * w).sum(0) / jnp.maximum(w.sum(0), 1.0), w.mean(0))
        else:
            out[k] = v.mean(0)
    return out


def as_weighted(m: Mapping[str, Metric], ran: jax.Array) -> dict[str, Weighted]:
    """Plain metrics weighted by `ran` (did this iteration run its updates); weighted ones as
    they are (their weight is already zero where the iteration skipped its updates)."""
    return {k: v if isinstance(v, Weighted) else Weighted(v, ran) for k, v in m.items()}


def _weighted_mean(v: Weighted) -> jax.Array:
    total = v.weight.sum()  # weights may be fractions (a share of an iteration's updates)
    return (v.value * v.weight).sum() / jnp.where(total > 0, total, 1.0)


def aggregate_metrics(env: Mapping[str, jax.Array], updates: Mapping[str, Weighted] | None = None,
                      ran: jax.Array | None = None) -> dict[str, Any]:
    """A chunk's per-iteration metrics [I] -> the scalars it logs.

    `env` (per vector step): `reward` (mean over envs), the `completed_count/return/length` sums
    of the episodes that ended, and `physics_diverged` where the engine detects divergence.
    `updates`: weighted update metrics; `ran`: whether each iteration ran its updates. Episode
    returns are the mean over episodes completed in the chunk (0 episodes -> count 0, no NaN).
    Sharded, the means are averaged over the devices (equal shares: the global mean) and the
    episode sums are summed first."""
    out = {k: _weighted_mean(v) for k, v in (updates or {}).items()}
    out, reward = data_mean((out, env["reward"].mean()))
    count, ret, length = data_sum((env["completed_count"].sum(), env["completed_return"].sum(),
                                   env["completed_length"].sum()))
    out["train/episodes"] = count
    out["train/episode_return"] = ret / jnp.maximum(count, 1.0)
    out["train/episode_length"] = length / jnp.maximum(count, 1.0)
    out["train/reward"] = reward
    if "physics_diverged" in env:  # engines that detect divergence (the C engine)
        out["train/physics_diverged"] = data_sum(env["physics_diverged"].sum())
    if ran is not None:
        out["update/count"] = ran.sum()
    return out
