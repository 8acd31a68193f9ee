"""bench.compare on hand-made results directories: runs are grouped by what they ran, seeds
pool across directories, and stopped runs are listed with only what they reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import compare, learning
from bench.common import config_to_dict

ENV, BUDGET = "HalfCheetah-v5", 100_000
STEPS = (25_000, 50_000, 75_000, 100_800)  # the last chunk overshoots the budget


def _config(algo: str, seed: int, overrides: dict) -> dict:
    preset = learning.PRESETS["locomotion"]
    return config_to_dict(learning.run_config(ENV, algo, seed, preset, BUDGET, overrides))


def _cell(directory: Path, algo: str, seed: int, returns: tuple, overrides: dict) -> None:
    curve = [{"env_steps": s, "return_mean": r, "wall_time_s": 60.0 * i}
             for i, (s, r) in enumerate(zip(STEPS, returns, strict=True))]
    (directory / "cells").mkdir(parents=True, exist_ok=True)
    (directory / "learning.json").write_text(json.dumps({"preset": "locomotion"}))
    (directory / "cells" / f"{ENV}-{algo}-s{seed}.json").write_text(json.dumps({
        "env": ENV, "algo": algo, "seed": seed, "budget": BUDGET, "curve": curve,
        "config": _config(algo, seed, overrides), "summary": {"wall_time_s": 600.0}}))


def _rows(tmp_path: Path, *dirs: str) -> list[dict]:
    runs = []
    for d in dirs:
        runs += compare.load_finished(tmp_path / d)
        for stopped in (tmp_path / d).rglob("stopped.json"):
            runs += compare.load_stopped(stopped)
    return compare.group_rows(runs)


def test_seeds_of_the_same_settings_pool_across_directories_and_variants_get_rows(tmp_path):
    _cell(tmp_path / "base", "dpmd", 0, (1, 2, 3, 4), {})
    _cell(tmp_path / "more-seeds", "dpmd", 1, (1, 2, 3, 8), {})
    _cell(tmp_path / "ablation", "dpmd", 0, (1, 2, 3, 9), {"algo.q_norm": "standardize"})
    rows = _rows(tmp_path, "base", "more-seeds", "ablation")
    assert [(w["variant"], w["seeds"]) for w in rows] == [
        ("(preset)", [0, 1]), ("algo.q_norm=standardize", [0])]
    at_budget = rows[0]["return_at_budget"]["1"]
    assert (at_budget["mean"], at_budget["se"], at_budget["n"]) == (6.0, 2.0, 2)
    assert len(rows[0]["sources"]) == 2


def test_a_seed_finished_in_two_directories_counts_once(tmp_path):
    _cell(tmp_path / "a", "sac", 0, (1, 2, 3, 4), {})
    _cell(tmp_path / "b", "sac", 0, (1, 2, 3, 4), {})
    (row,) = _rows(tmp_path, "a", "b")
    assert row["seeds"] == [0] and row["return_at_budget"]["1"]["n"] == 1


def test_two_different_runs_of_one_seed_both_count_and_say_so(tmp_path):
    # Same seed and settings, other evaluations (a rerun on other code): neither is dropped.
    _cell(tmp_path / "a", "sac", 0, (1, 2, 3, 4), {})
    _cell(tmp_path / "b", "sac", 0, (1, 2, 3, 8), {})
    (row,) = _rows(tmp_path, "a", "b")
    assert row["seeds"] == [0, 0] and row["return_at_budget"]["1"]["mean"] == 6.0
    assert "seed 0 run more than once" in compare.markdown([row], ["a", "b"])


def test_a_variant_is_compared_with_the_preset_on_the_seeds_both_ran(tmp_path):
    for seed, last in ((0, 4), (1, 8), (2, 6)):
        _cell(tmp_path / "base", "dpmd", seed, (1, 2, 3, last), {})
    _cell(tmp_path / "rerun", "dpmd", 2, (1, 2, 3, 9), {})  # seed 2 twice: its pair is ambiguous
    for seed, last in ((0, 5), (1, 11), (2, 20), (3, 50)):  # seed 3 has no preset run
        _cell(tmp_path / "p32", "dpmd", seed, (1, 2, 3, last), {"algo.num_particles": 32})
    rows = _rows(tmp_path, "base", "rerun", "p32")
    preset, variant = rows
    assert "paired_vs_preset" not in preset
    paired = variant["paired_vs_preset"]
    assert paired["seeds"] == [0, 1]  # differences +1 and +3
    assert (paired["1"]["mean"], paired["1"]["se"], paired["1"]["n"]) == (2.0, 1.0, 2)
    assert paired["final_window"]["mean"] == 2.0  # only the 100.8k evaluation is in the window
    text = compare.markdown(rows, ["base", "rerun", "p32"])
    assert "+2 ± 1 / +2 ± 1 (2 seeds)" in text


def test_two_algorithms_presets_are_set_against_each_other_unpaired(tmp_path):
    """DPMD (finals 4, 8) against SAC (finals 2, 4, 6): difference +2, standard error
    hypot(2, 1.155) = 2.31, and 4 * (2² * 2 + 1.155² * 3) / 2² = 12 seeds a side would put a
    difference of 2 at two standard errors. A variant's row and a one-seed algorithm stay out."""
    for seed, last in ((0, 4), (1, 8)):
        _cell(tmp_path / "d", "dpmd", seed, (1, 2, 3, last), {})
    for seed, last in ((0, 2), (1, 4), (2, 6)):
        _cell(tmp_path / "s", "sac", seed, (1, 2, 3, last), {})
    _cell(tmp_path / "v", "dpmd", 0, (1, 2, 3, 100), {"algo.num_particles": 32})
    _cell(tmp_path / "q", "sdac", 0, (1, 2, 3, 100), {})
    rows = _rows(tmp_path, "d", "s", "v", "q")
    pairs = compare.algorithm_pairs(rows)
    assert {tuple(p["algos"]) for p in pairs} == {("dpmd", "sac"), ("dpmd", "sdac"),
                                                   ("sac", "sdac")}
    (ds,) = [p for p in pairs if p["algos"] == ["dpmd", "sac"]]
    assert ds["seeds"] == [2, 3] and ds["1"]["diff"] == 2.0
    assert ds["1"]["se"] == pytest.approx((4 + 4 / 3) ** 0.5)
    assert ds["1"]["seeds_per_side_for_2se"] == 12 and ds["1"]["ratio"] == 1.5
    assert all(p["1"] is None for p in pairs if "sdac" in p["algos"])  # one seed: no SE
    text = compare.markdown(rows, ["d", "s", "v", "q"])
    assert ("| dpmd − sac | (preset) | (preset) / (preset) | cpu | 2 / 3 | 100,000 | +2 ± 2.31 "
            "(t = +0.9; ×1.50; ~12 seeds a side") in text
    assert "sdac − " not in text and " − sdac" not in text


def test_outside_the_presets_regime_every_two_recipes_of_one_regime_are_set_against_each_other(
        tmp_path):
    """At 256 envs no row is a preset row: DPMD's two recipes each meet SAC's of the same
    regime (and each other, paired by seed), and the regime gets a plot; SAC at 16 envs
    (another regime) meets none, nor does a DPMD ablation in the preset's regime meet the SAC
    preset."""
    wide = {"num_envs": 256, "utd_ratio": 1 / 64}
    for seed, last in ((0, 4), (1, 8)):
        _cell(tmp_path / "d", "dpmd", seed, (1, 2, 3, last), wide)
        _cell(tmp_path / "d2", "dpmd", seed, (1, 2, 3, last + 1),
              {**wide, "algo.noise_scale": 0.1})
        _cell(tmp_path / "s", "sac", seed, (1, 2, 3, last - 2), wide)
        _cell(tmp_path / "s16", "sac", seed, (1, 2, 3, 50), {"num_envs": 16})
        _cell(tmp_path / "v", "dpmd", seed, (1, 2, 3, 70), {"algo.num_particles": 32})
        _cell(tmp_path / "p", "sac", seed, (1, 2, 3, 60), {})
    rows = _rows(tmp_path, "d", "d2", "s", "s16", "v", "p")
    assert {(w["algo"], w["regime"], w["algo_settings"]) for w in rows} >= {
        ("dpmd", "num_envs=256, utd_ratio=0.015625", "algo.noise_scale=0.1"),
        ("sac", "num_envs=16", "(preset)")}
    pairs = compare.algorithm_pairs(rows)
    assert sorted((p["regime"], tuple(p["algo_settings"]), p["1"]["diff"]) for p in pairs) == [
        ("num_envs=256, utd_ratio=0.015625", ("(preset)", "(preset)"), 2.0),
        ("num_envs=256, utd_ratio=0.015625", ("algo.noise_scale=0.1", "(preset)"), 3.0)]
    runs = [r for d in ("d", "d2", "s", "s16", "v", "p")
            for r in compare.load_finished(tmp_path / d)]
    (recipes,) = compare.recipe_pairs(runs)  # DPMD's two recipes at 256 envs, paired by seed
    assert (recipes["algo"], recipes["algo_settings"], recipes["seeds"]) == (
        "dpmd", ["(preset)", "algo.noise_scale=0.1"], [0, 1])
    assert (recipes["1"]["mean"], recipes["1"]["se"]) == (1.0, 0.0)
    plots = compare.regime_plots(rows, tmp_path)
    (key,) = plots  # the 256-env regime only: the preset's regime has its own directories' plots
    assert key == (ENV, "cpu", BUDGET, "num_envs=256, utd_ratio=0.015625")
    assert (tmp_path / plots[key]).stat().st_size > 0
    text = compare.markdown(rows, ["d", "d2", "s", "s16", "v", "p"], plots=plots,
                            recipes=[recipes])
    assert "| dpmd | num_envs=256, utd_ratio=0.015625 | (preset) | algo.noise_scale=0.1 | cpu | " \
           "100,000 | +1 ± 0 / " in text
    assert "| dpmd − sac | num_envs=256, utd_ratio=0.015625 | algo.noise_scale=0.1 / (preset) |" \
        in text
    assert f"({plots[key]})" in text


def _stopped(directory: Path, key: str, algo: str, overrides: dict, curve_to: int,
             why: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "stopped.json"
    data = json.loads(path.read_text()) if path.is_file() else {"bench_preset": "locomotion",
                                                                  "runs": {}}
    curve = [{"env_steps": s, "return_mean": 7.0, "wall_time_s": 1.0} for s in STEPS[:curve_to]]
    data["runs"][key] = {"overrides": overrides, "curve": curve, "why_stopped": why,
                         "config": _config(algo, 0, overrides)}
    path.write_text(json.dumps(data))


def test_stopped_runs_show_only_what_they_reached_and_vanish_once_resumed_to_the_end(tmp_path):
    _cell(tmp_path / "base", "dpmd", 0, (1, 2, 3, 4), {})
    stopped = tmp_path / "stopped"
    _stopped(stopped, "resumed-later", "dpmd", {}, 2, "cut by the session's end")
    _stopped(stopped, "half-way", "dpmd", {"algo.num_particles": 8}, 2, "too slow")
    _stopped(stopped, "at-compile", "sac", {"algo.lr": 1e-3}, 0, "killed while compiling")
    rows = _rows(tmp_path, "base", "stopped")
    by_variant = {(w["algo"], w["variant"]): w for w in rows}
    assert len(rows) == 3  # the stopped run resumed to its budget is the finished one
    assert set(by_variant) == {("dpmd", "(preset)"), ("dpmd", "algo.num_particles=8"),
                               ("sac", "algo.lr=0.001")}
    assert by_variant[("dpmd", "(preset)")]["return_at_budget"]["1"]["mean"] == 4.0
    half = by_variant[("dpmd", "algo.num_particles=8")]
    assert half["stopped_at"] == 50_000 and half["why_stopped"] == "too slow"
    at = half["return_at_budget"]
    assert at["0.5"]["mean"] == 7.0 and at["1"]["mean"] is None
    assert at["final_window"]["mean"] is None
    text = compare.markdown(rows, ["base", "stopped"])
    assert "seed 0, stopped at 50,000" in text and "stopped before its first eval" in text
    assert "4,200–4,700" in text and "6,200–6,500" in text  # the published band under the env


def test_the_command_line_writes_both_files_and_refuses_a_missing_directory(tmp_path, capsys):
    _cell(tmp_path / "base", "dpmd", 0, (1, 2, 3, 4), {})
    compare.main([str(tmp_path / "base"), "--out", str(tmp_path / "out")])
    data = json.loads((tmp_path / "out" / "learning-variants.json").read_text())
    assert [w["algo"] for w in data["rows"]] == ["dpmd"]
    table = (tmp_path / "out" / "learning-variants.md").read_text()
    assert "| dpmd | cpu | (preset) | 1 |" in table
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "nowhere")])
    assert "not a directory" in capsys.readouterr().err


def test_a_run_recorded_at_each_stop_is_reported_by_its_latest_record(tmp_path):
    stopped = tmp_path / "stopped"
    _stopped(stopped, "dpmd-s0-at50000", "dpmd", {}, 2, "the session ended")
    _stopped(stopped, "dpmd-s0-at75000", "dpmd", {}, 3, "the session ended again")
    (row,) = _rows(tmp_path, "stopped")
    assert row["stopped_at"] == 75_000 and row["why_stopped"] == "the session ended again"


def test_fixed_budgets_pool_every_seed_that_reached_them_and_set_algorithms_against_each_other(
        tmp_path):
    for seed, returns in ((0, (10, 20, 30, 40)), (1, (12, 22, 32, 42)), (2, (14, 24, 34, 44))):
        _cell(tmp_path / "d", "sac", seed, returns, {})
    _cell(tmp_path / "d", "dpmd", 0, (1, 2, 3, 4), {})
    stopped = tmp_path / "d" / "stopped.json"
    stopped.write_text(json.dumps({"bench_preset": "locomotion", "runs": {}}))
    for seed, steps in ((1, 2), (2, 3)):
        data = json.loads(stopped.read_text())
        curve = [{"env_steps": s, "return_mean": 5.0 + seed, "wall_time_s": 1.0}
                 for s in STEPS[:steps]]
        data["runs"][f"dpmd-s{seed}"] = {"curve": curve, "why_stopped": "still running",
                                         "config": _config("dpmd", seed, {})}
        stopped.write_text(json.dumps(data))
    runs = compare.load_finished(tmp_path / "d") + compare.load_stopped(stopped)
    reached = {w["algo"]: w for w in compare.reached_budgets(runs)}
    dpmd = reached["dpmd"]
    assert dpmd["finished_seeds"] == [0] and dpmd["unfinished"] == [(1, 50_000), (2, 75_000)]
    # 25k: all three seeds (1, 6, 7); 50k: all three (2, 6, 7); 100k: seed 0 alone (seed 2's
    # last evaluation, 75k, is 25k before its next one: its return at 100k is not known).
    assert [(dpmd["at"][f]["mean"], dpmd["at"][f]["n"]) for f in ("0.25", "0.5", "1")] == [
        (14 / 3, 3), (5.0, 3), (4.0, 1)]
    assert dpmd["at"]["1"]["seeds"] == [0]
    (pair,) = compare.reached_pairs(list(reached.values()))
    assert pair["algos"] == ["dpmd", "sac"]
    assert pair["at"]["0.5"]["welch"]["diff"] == pytest.approx(5.0 - 22.0)
    assert pair["at"]["1"]["welch"] is None  # one DPMD seed at the budget
    text = compare.markdown(compare.group_rows(runs), ["d"], reached=list(reached.values()))
    assert "seed 1 at 50,000, seed 2 at 75,000" in text
    assert "| dpmd − sac | (preset) | (preset) / (preset) | 100,000 |" in text
    # A lone stopped run pools with nothing: its own row says all.
    lone = [r for r in runs if r["algo"] == "sac" or r["seed"] == 2]
    assert "Every seed at fixed budgets" not in compare.markdown(
        compare.group_rows(lone), ["d"], reached=compare.reached_budgets(lone))
    # Once every run finished, the table is not repeated.
    finished = [r for r in runs if not r["stopped"]]
    assert "Every seed at fixed budgets" not in compare.markdown(
        compare.group_rows(finished), ["d"], reached=compare.reached_budgets(finished))


def test_a_stopped_runs_return_at_a_budget_counts_once_no_evaluation_can_change_it():
    curve = [{"env_steps": s, "return_mean": 1.0} for s in (9_600, 19_200, 28_800)]
    assert compare._settled_at(curve, 28_800) and compare._settled_at(curve, 38_000)
    assert not compare._settled_at(curve, 38_400)  # the next evaluation would be at 38,400
    assert not compare._settled_at(curve[:1], 10_000)  # one evaluation: no grid to go by
