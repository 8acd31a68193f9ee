"""Metric reduction: a metric that carries its own weight (`Weighted`: the delayed policy step,
DACER's entropy estimate) is averaged over the steps where it ran, inside an iteration's updates
and across the chunk's iterations; every other update metric over all updates of the iterations
that ran updates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mjxrsm.core.metrics import Weighted, aggregate_metrics, as_weighted, gated, mean_over_updates


def _env(n: int) -> dict[str, jax.Array]:
    z = jnp.zeros(n)
    return {"reward": z, "completed_count": z, "completed_return": z, "completed_length": z}


def test_weighted_metrics_average_only_over_the_steps_that_ran():
    # Two iterations of 4 updates; the policy ran on 1 then 3 of them, the entropy estimate once.
    its = []
    for pol_on, ent_on in (([1, 0, 0, 0], [1, 0, 0, 0]), ([1, 1, 1, 0], [0, 0, 0, 0])):
        p, e = jnp.asarray(pol_on, jnp.float32), jnp.asarray(ent_on, jnp.float32)
        its.append(mean_over_updates({
            **gated({"policy/loss": 2.0 * p, "dpmd/ess_frac": 0.5 * p}, p),
            **gated({"entropy/estimate": -3.0 * e}, e),
            "critic/loss": jnp.arange(4.0)}))
    m = jax.tree.map(lambda *x: jnp.stack(x), *its)
    out = aggregate_metrics(_env(2), as_weighted(m, jnp.ones(2)), jnp.ones(2))
    np.testing.assert_allclose(float(out["policy/loss"]), 2.0)  # not 2 * 4/8 = 1
    np.testing.assert_allclose(float(out["dpmd/ess_frac"]), 0.5)
    np.testing.assert_allclose(float(out["entropy/estimate"]), -3.0)  # not -3/8
    np.testing.assert_allclose(float(out["critic/loss"]), 1.5)
    assert float(out["update/count"]) == 2.0
    assert all(np.ndim(v) == 0 for v in out.values())


def test_iterations_without_updates_do_not_count():
    # Three iterations; only the middle one ran its updates (UTD below 1): the skipped ones
    # report zeros (lax.cond) that must not pull the means down.
    ran = jnp.asarray([0.0, 1.0, 0.0])
    upd = {"critic/loss": jnp.asarray([0.0, 4.0, 0.0]),
           "policy/loss": Weighted(jnp.asarray([0.0, 6.0, 0.0]), ran)}
    out = aggregate_metrics(_env(3), as_weighted(upd, ran), ran)
    np.testing.assert_allclose(float(out["critic/loss"]), 4.0)
    np.testing.assert_allclose(float(out["policy/loss"]), 6.0)
    assert float(out["update/count"]) == 1.0


def test_no_step_ran_gives_zero_not_nan():
    ran = jnp.zeros(2)
    out = aggregate_metrics(_env(2), as_weighted({"critic/loss": jnp.ones(2)}, ran), ran)
    assert float(out["critic/loss"]) == 0.0 and float(out["train/episode_return"]) == 0.0
