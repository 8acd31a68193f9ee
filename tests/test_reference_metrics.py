"""A short run's logged metrics against those the code wrote before the package was regrouped
(tests/data/reference-metrics: commit 2d87ffe, point_mass, tiny nets, 64 env steps). On the
machine that wrote them the rows are bit-identical; across CPUs XLA may round differently, so
the test allows float32 rounding noise and no more."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from helpers_runs import tiny_config

from mjxrsm.train import run

REFERENCE = Path(__file__).parent / "data" / "reference-metrics"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("algo", ["dpmd", "sac"])
def test_metrics_match_the_reference(algo, tmp_path):
    c = tiny_config(algo, normalize=True)
    c.total_env_steps = 64
    if "critic_hidden" in c.algo:
        c.algo.critic_hidden = (16, 16)
    run(c, tmp_path / "r", stream=io.StringIO())
    for name in ("train.csv", "eval.csv"):
        want, got = _rows(REFERENCE / algo / name), _rows(tmp_path / "r" / name)
        assert len(got) == len(want), name
        for w, g in zip(want, got, strict=True):
            for k, v in w.items():
                np.testing.assert_allclose(float(g[k]), float(v), rtol=1e-5, atol=1e-6,
                                           err_msg=f"{name} {k} at {w['env_steps']}")
