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
    assert all(len(r.split(" | ")) == len(rows[0].split(" | ")) for r in rows)


def test_the_final_window_averages_each_runs_last_fifth_then_the_seeds():
    """One evaluation swings a lot at the end of a Hopper run; the window column averages the
    evaluations in the last fifth of each run's budget (the final one may overshoot it)."""
    def run(seed, returns):
        steps = (25, 50, 75, 85, 103)  # the last chunk overshoots the budget
        curve = [{"env_steps": s, "return_mean": r} for s, r in zip(steps, returns, strict=True)]
        return {"env": "e", "algo": "a", "seed": seed, "budget": 100, "curve": curve,
                "summary": {"wall_time_s": 1.0}}

    agg = learning.aggregate([run(0, [0, 0, 0, 10, 30]), run(1, [0, 0, 0, 50, 10])], (1.0,))
    window = agg["e/a"]["return_at_budget"]["final_window"]
    assert (window["mean"], window["n"]) == (25.0, 2)  # seed 0: (10+30)/2, seed 1: (50+10)/2
    assert learning.final_window_mean([], 100) is None


def test_settings_beyond_the_preset_shared_go_in_the_header_and_the_rest_in_their_rows():
    """Cells from two invocations into one --out (SAC with batch 1024, DPMD with 256): the
    header says what all share, each row what only it has."""
    preset = learning.PRESETS["locomotion"]
    runs = []
    for algo, batch in (("sac", 1024), ("dpmd", 256)):
        c = learning.run_config("HalfCheetah-v5", algo, 0, preset, 1_000_000,
                                {"num_envs": 256, "algo.batch_size": batch})
        runs.append({"env": "HalfCheetah-v5", "algo": algo, "seed": 0, "budget": 1_000_000,
                     "config": learning.config_to_dict(c)})
    for r in runs:
        r["beyond_preset"] = learning.beyond_preset(r, preset)
    assert runs[0]["beyond_preset"] == {"num_envs": 256, "algo.batch_size": 1024}
    assert runs[1]["beyond_preset"] == {"num_envs": 256}  # 256 is the cpu preset's batch
    common, extra = learning.split_overrides({"runs": runs})
    assert common == {"num_envs": 256}
    assert extra == {("HalfCheetah-v5", "sac"): {"algo.batch_size": 1024},
                     ("HalfCheetah-v5", "dpmd"): {}}


def test_a_run_recorded_before_a_key_existed_keeps_what_it_ran_with():
    """A DPMD cell saved before `algo.critic_hidden` existed ran a 2x128 critic: it must not
    pool with the preset's 2x256 runs (it did, and replaced one of their seeds)."""
    preset = learning.PRESETS["locomotion"]
    config = learning.run_config("HalfCheetah-v5", "dpmd", 0, preset, 100_000, {})
    c = learning.config_to_dict(config)
    del c["algo"]["critic_hidden"]
    r = {"env": "HalfCheetah-v5", "algo": "dpmd", "seed": 0, "budget": 100_000, "config": c}
    assert learning.beyond_preset(r, preset) == {"algo.critic_hidden": []}


def test_first_seed_shifts_the_seeds_so_two_invocations_split_one_directory():
    preset = learning.dataclasses.replace(learning.PRESETS["locomotion"], seeds=1,
                                          envs=("Hopper-v5",), algos=("dpmd", "sac"))
    assert [c.name for c in learning.make_cells(preset, first_seed=1)] == [
        "Hopper-v5-dpmd-s1", "Hopper-v5-sac-s1"]
    assert {c.seed for c in learning.make_cells(preset)} == {0}
    assert learning.make_cells(preset, budget=500)[0].budget == 500


def test_the_header_counts_the_machines_the_runs_ran_on():
    """Cells of one directory come from several sessions' machines; min/run compares only on
    one, and cells from before hosts were recorded are counted as such."""
    xeon = {"cpu_model": "Xeon", "cpu_usable": 2}
    runs = [{"host": xeon}, {"host": xeon}, {"host": {"cpu_model": "EPYC", "cpu_usable": 1}}, {}]
    assert learning.run_hosts(runs) == ("EPYC (1 cores usable): 1 run, Xeon (2 cores usable): "
                                        "2 runs, not recorded: 1 run")


def test_eval_curve_wall_clock_continues_across_an_old_style_resume(tmp_path):
    """Runs logged before the wall clock survived resumes restart wall_time at 0: the curve adds
    back the time of the checkpoint row that train.csv's fall marks."""
    (tmp_path / "train.csv").write_text("env_steps,wall_time,x\n16,10.0,0\n32,20.0,0\n"
                                        "48,5.0,0\n64,9.0,0\n")
    (tmp_path / "eval.csv").write_text("env_steps,wall_time,eval/return_mean,eval/return_std\n"
                                       "32,21.0,1.0,0.1\n64,9.5,2.0,0.1\n")
    curve = learning.read_eval_curve(tmp_path)
    assert [(p["env_steps"], p["wall_time_s"]) for p in curve] == [(32, 21.0), (64, 29.5)]
    agg = learning.aggregate([{"env": "e", "algo": "a", "seed": 0, "budget": 64, "curve": curve,
                               "summary": {"wall_time_s": 30.0}}], (1.0,))
    assert [p["wall_time_s"] for p in agg["e/a"]["curve"]] == [21.0, 29.5]
    learning.plot_env("e", agg, tmp_path / "e.png", "t")  # both panels draw
    assert (tmp_path / "e.png").stat().st_size > 0


def test_the_report_is_rebuilt_under_the_directorys_lock(tmp_path):
    """Two invocations into one directory that end together rebuild learning.json one after
    the other, so the later one has read the cell the earlier one wrote."""
    import threading

    from bench.common import exclusive

    preset = learning.PRESETS["locomotion"]
    (tmp_path / "cells").mkdir()
    done = []

    def rebuild() -> None:
        done.append(learning.report(tmp_path, "locomotion", preset, {}, None, False, None))

    with exclusive(tmp_path / learning.LOCK_NAME):
        t = threading.Thread(target=rebuild)
        t.start()
        t.join(timeout=1.0)
        assert t.is_alive() and not (tmp_path / "learning.json").exists()
    t.join(timeout=60)
    assert done and (tmp_path / "learning.json").exists()


def test_the_parallel_humanoid_run_makes_300k_updates_at_the_parallel_values():
    """The GPU job `make bench-gpu-humanoid`: >= 256 envs, the parallel preset's batch, and
    enough env steps for 300k updates."""
    preset = learning.PRESETS["humanoid-parallel"]
    c = learning.run_config("Humanoid-v5", "dpmd", 0, preset,
                            learning.budget_for(preset, "Humanoid-v5", None), {})
    assert c.preset == "parallel" and c.num_envs >= 256 and c.algo.batch_size == 1024
    assert c.total_env_steps * c.utd_ratio >= 300_000
