"""Metric reduction: a metric group gated by its own `<group>/applied` flag (the policy step,
DACER's entropy estimate) is averaged over the steps where it ran, inside an iteration's updates
and across the chunk's iterations; every other metric over all updates."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from mjxrsm.core.trainer import aggregate_metrics, mean_over_updates


def test_gated_groups_average_only_over_the_steps_that_ran():
    # Two iterations of 4 updates; the policy ran on 1 then 3 of them, the entropy estimate once.
    its = []
    for pol_on, ent_on in (([1, 0, 0, 0], [1, 0, 0, 0]), ([1, 1, 1, 0], [0, 0, 0, 0])):
        p, e = jnp.asarray(pol_on, jnp.float32), jnp.asarray(ent_on, jnp.float32)
        its.append(mean_over_updates({
            "policy/applied": p, "policy/loss": 2.0 * p, "dpmd/ess_frac": 0.5 * p,
            "entropy/applied": e, "entropy/estimate": -3.0 * e,
            "critic/loss": jnp.arange(4.0)}, ("policy", "dpmd")))
    m = {k: jnp.stack([it[k] for it in its]) for k in its[0]}
    m.update({"update/applied": jnp.ones(2), "env/completed_count": jnp.zeros(2),
              "env/completed_return": jnp.zeros(2), "env/completed_length": jnp.zeros(2),
              "env/reward": jnp.zeros(2)})
    out = aggregate_metrics(m, ("policy", "dpmd"))
    np.testing.assert_allclose(float(out["policy/loss"]), 2.0)  # not 2 * 4/8 = 1
    np.testing.assert_allclose(float(out["dpmd/ess_frac"]), 0.5)
    np.testing.assert_allclose(float(out["entropy/estimate"]), -3.0)  # not -3/8
    np.testing.assert_allclose(float(out["critic/loss"]), 1.5)
    assert not any(k.endswith("/applied") for k in out)
