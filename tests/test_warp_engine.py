"""MJX-Warp (`env.impl=warp`) on Warp's CPU backend: a Gymnasium task steps, resets per env and
trains a chunk through the trainer. Slow: Warp compiles its kernels for minutes on a CPU the first
time (then cached in ~/.cache/warp); its speed is for `make bench-gpu`."""

from __future__ import annotations

import importlib.util

import jax
import numpy as np
import pytest
from helpers_runs import tiny_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("warp") is None, reason="warp-lang not installed"),
]


def test_warp_trains_a_chunk_and_evaluates():
    from mjxrsm.core.trainer import make_trainer

    c = tiny_config("sac", env="HalfCheetah-v5")
    c.env.impl = "warp"
    tr = make_trainer(c)
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, m = tr.train_chunk(s)
    ev = tr.evaluate(s, jax.random.PRNGKey(1))
    assert all(np.isfinite(float(v)) for v in {**m, **ev}.values())
    assert float(ev["eval/length_mean"]) == c.env.episode_length
