"""Slow: the `cpu` preset learns inverted_pendulum (eval return >= 900 of 1000) on a CPU, for each
algorithm. `make test-slow` runs it; timings and measured curves are in bench/results/ and the
README. This is the evidence that the whole pipeline (env, buffer, losses, sampler, trainer)
learns, not only that it runs."""

from __future__ import annotations

import pytest

from configs.train import get_config
from mjxrsm.train import run

# Env steps after warm-up; the preset's own budget for inverted_pendulum is 24k.
BUDGET = {"dpmd": 24_000, "sdac": 24_000, "sac": 24_000}


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sac", "dpmd", "sdac"])
def test_cpu_preset_solves_inverted_pendulum(tmp_path, monkeypatch, algo):
    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT into the cwd on warnings
    c = get_config(f"inverted_pendulum,{algo},cpu")
    c.total_env_steps = BUDGET[algo]
    c.tensorboard = False
    summary = run(c, tmp_path / "run")
    returns = [e["return_mean"] for e in summary["evals"]]
    assert max(returns) >= 900, f"{algo}: eval returns {returns}"
