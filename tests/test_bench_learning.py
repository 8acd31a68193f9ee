"""bench.learning without running anything: every preset's runs get a valid config, and the
results page puts the published SAC band under its env's rows."""

from __future__ import annotations

import pytest

from bench import learning


@pytest.mark.parametrize("name", [*learning.PRESETS, "quick"])
def test_every_run_of_every_preset_has_a_valid_config(name):
    preset = learning.QUICK if name == "quick" else learning.PRESETS[name]
    for env in preset.envs:
        for algo in preset.algos:
            budget = learning.budget_for(preset, env, None)
            c = learning.run_config(env, algo, 0, preset, budget, {})
            assert c.total_env_steps == budget and c.algo.name == algo


def test_markdown_puts_the_published_band_under_its_env():
    agg = {f"{env}/{algo}": {
        "env": env, "algo": algo, "seeds": [0, 1], "diverged_seeds": [], "budget": 100_000,
        "curve": [], "mean_wall_time_s": 60.0,
        "return_at_budget": {"0.5": {"env_steps": 50_000, "mean": 1.0, "se": 0.1, "n": 2},
                             "1": {"env_steps": 100_000, "mean": 2.0, "se": 0.1, "n": 2}}}
        for env in ("HalfCheetah-v5", "Hopper-v5") for algo in ("dpmd", "sac")}
    report = {"aggregates": agg, "preset": "locomotion", "trainer_preset": "cpu",
              "overrides": {}, "settings": {"table_fractions": [0.5, 1.0]},
              "envs": ["HalfCheetah-v5", "Hopper-v5"]}
    rows = [line for line in learning.markdown(report).splitlines() if line.startswith("| H")]
    assert [r.split(" | ")[1] for r in rows] == ["dpmd", "sac", "published SAC"] * 2
    assert "4,200–4,700" in rows[2] and "1,100–2,600" in rows[5]
