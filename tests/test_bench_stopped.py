"""bench.stopped on a hand-made run directory: what a stopped run reached lands in stopped.json in
the form bench.compare lists, and an existing entry is never replaced."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import compare, learning, stopped
from bench.common import config_to_dict

ENV, BUDGET = "HalfCheetah-v5", 100_000


def _run_dir(path: Path, overrides: dict, evals: tuple[tuple[int, float], ...]) -> Path:
    preset = learning.PRESETS["locomotion"]
    config = config_to_dict(learning.run_config(ENV, "dpmd", 1, preset, BUDGET, overrides))
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    rows = "".join(f"{s},{r},1.0,{10.0 * s / 4800}\n" for s, r in evals)
    (path / "eval.csv").write_text("env_steps,eval/return_mean,eval/return_std,wall_time\n" + rows)
    (path / "train.csv").write_text("env_steps,wall_time,critic/loss,alpha\n"
                                    "1600,5.0,0.3,\n3200,9.0,0.2,0.98\n")
    return path


def test_a_stopped_run_is_recorded_for_bench_compare_with_its_overrides(tmp_path):
    run = _run_dir(tmp_path / "HalfCheetah-v5-dpmd-s1", {"algo.num_particles": 32},
                   ((4800, -50.0), (9600, 300.0)))
    into = tmp_path / "results" / "stopped.json"
    stopped.main([str(run), "--why", "out of time", "--into", str(into)])
    data = json.loads(into.read_text())
    assert data["bench_preset"] == "locomotion"
    ((key, entry),) = data["runs"].items()
    assert key == "HalfCheetah-v5-dpmd-s1-num_particles32-at9600"
    assert entry["overrides"] == {"algo.num_particles": 32}
    assert entry["why_stopped"] == "out of time"
    assert entry["train_rows"][0] == {"env_steps": 1600.0, "wall_time": 5.0, "critic/loss": 0.3}
    (row,) = compare.group_rows(compare.load_stopped(into))
    assert row["variant"] == "algo.num_particles=32" and row["stopped_at"] == 9600


def test_an_existing_entry_is_refused_and_the_file_left_as_it_was(tmp_path, capsys):
    run = _run_dir(tmp_path / "r", {}, ((4800, 1.0),))
    into = tmp_path / "stopped.json"
    stopped.main([str(run), "--why", "first", "--key", "k", "--into", str(into)])
    before = into.read_text()
    with pytest.raises(SystemExit) as e:
        stopped.main([str(run), "--why", "again", "--key", "k", "--into", str(into)])
    assert e.value.code == 2 and "already has an entry 'k'" in capsys.readouterr().err
    assert into.read_text() == before


def test_not_a_run_directory_and_an_empty_reason_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        stopped.main([str(tmp_path), "--why", "x", "--into", str(tmp_path / "s.json")])
    assert "no config.json" in capsys.readouterr().err
    run = _run_dir(tmp_path / "r", {}, ())
    with pytest.raises(SystemExit):
        stopped.main([str(run), "--why", " ", "--into", str(tmp_path / "s.json")])
    assert "--why is empty" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"seed": 0}))
    with pytest.raises(SystemExit):
        stopped.main([str(tmp_path / "other"), "--why", "x", "--into", str(tmp_path / "s.json")])
    assert "not a training config" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_a_stop_waits_for_another_writer_of_the_same_file(tmp_path):
    """The read-add-write of stopped.json holds the file's lock, so a second session's stop
    reads the first one's entry instead of overwriting it."""
    import threading

    from bench.common import exclusive

    run = _run_dir(tmp_path / "r", {}, ((4800, 1.0),))
    into = tmp_path / "stopped.json"
    with exclusive(tmp_path / ".stopped.json.lock"):
        t = threading.Thread(target=stopped.main,
                             args=([str(run), "--why", "x", "--key", "k", "--into", str(into)],))
        t.start()
        t.join(timeout=1.0)
        assert t.is_alive() and not into.exists()  # blocked on the lock, nothing written
        into.write_text(json.dumps({"bench_preset": "locomotion", "runs": {"other": {}}}))
    t.join(timeout=30)
    assert not t.is_alive()
    assert set(json.loads(into.read_text())["runs"]) == {"other", "k"}


def test_a_later_stop_of_the_same_run_stores_only_its_new_training_rows(tmp_path):
    """A resumed run recorded again keeps every row once: the later entry names the earlier one,
    and `full_train_rows` gives back exactly the run's train.csv at each stop."""
    run = _run_dir(tmp_path / "HalfCheetah-v5-dpmd-s1", {}, ((4800, 1.0),))
    into = tmp_path / "stopped.json"
    stopped.main([str(run), "--why", "first stop", "--into", str(into)])
    first_rows = stopped.read_train_rows(run)
    with (run / "train.csv").open("a") as f:
        f.write("4800,12.0,0.1,0.97\n6400,15.0,0.05,0.96\n")
    with (run / "eval.csv").open("a") as f:
        f.write("9600,2.0,1.0,20.0\n")
    stopped.main([str(run), "--why", "second stop", "--into", str(into)])
    runs = json.loads(into.read_text())["runs"]
    first, second = "HalfCheetah-v5-dpmd-s1-at4800", "HalfCheetah-v5-dpmd-s1-at9600"
    assert runs[second]["train_rows_follow"] == {"entry": first, "rows": 2}
    assert [r["env_steps"] for r in runs[second]["train_rows"]] == [4800.0, 6400.0]
    assert stopped.full_train_rows(runs, first) == first_rows
    assert stopped.full_train_rows(runs, second) == stopped.read_train_rows(run)


def test_a_run_with_other_settings_is_never_taken_for_an_earlier_stop(tmp_path):
    into = tmp_path / "stopped.json"
    for name, overrides in (("a", {}), ("b", {"algo.num_particles": 32})):
        stopped.main([str(_run_dir(tmp_path / name, overrides, ((4800, 1.0),))), "--why", "x",
                      "--key", name, "--into", str(into)])
    runs = json.loads(into.read_text())["runs"]
    assert "train_rows_follow" not in runs["b"] and len(runs["b"]["train_rows"]) == 2


def test_a_run_cut_at_its_timeout_is_recorded_once_and_a_second_cut_only_warns(tmp_path):
    run = _run_dir(tmp_path / "HalfCheetah-v5-dpmd-s1", {}, ((4800, 10.0), (9600, 20.0)))
    into = tmp_path / "stopped.json"
    learning.record_cut_run(into, "locomotion", "pinned", run, 600.0)
    ((key, entry),) = json.loads(into.read_text())["runs"].items()
    assert key == "HalfCheetah-v5-dpmd-s1-at9600"
    assert "time limit of 600 s" in entry["why_stopped"] and entry["host"].endswith(", pinned")
    before = into.read_text()
    learning.record_cut_run(into, "locomotion", "pinned", run, 600.0)  # nothing new: refused
    assert into.read_text() == before


def _cut_workers(monkeypatch, clock: list[float]) -> list[float]:
    """Every worker is cut at its timeout, which takes that long on `clock`; returns the
    timeouts the workers were given."""
    given: list[float] = []

    def cut(module, spec, timeout, log_path, env):
        given.append(timeout)
        clock[0] += timeout
        (Path(spec["workdir"]) / "config.json").write_text("{}")
        return {"error": f"timed out after {timeout:.0f} s (stopped within its grace period)",
                "timed_out": True}

    monkeypatch.setattr(learning, "run_worker", cut)
    monkeypatch.setattr(learning.time, "time", lambda: clock[0])
    return given


def test_bench_learning_records_the_runs_its_timeout_cut(tmp_path, monkeypatch):
    given = _cut_workers(monkeypatch, [0.0])
    preset = learning.PRESETS["locomotion"]
    cells = [learning.Cell(ENV, "dpmd", 0, BUDGET), learning.Cell(ENV, "sac", 0, BUDGET)]
    seen: list[tuple[Path, float]] = []
    learning.run_cells(cells, preset, {}, tmp_path / "out", tmp_path / "runs", 1, False, None,
                       on_timeout=lambda w, t: seen.append((w, t)))
    assert seen == [(tmp_path / "runs" / c.name, preset.timeout_s) for c in cells]
    assert given == [preset.timeout_s] * 2
    assert not list((tmp_path / "out" / "cells").iterdir())  # no cell: it resumes next time


def test_until_shortens_the_last_run_and_starts_none_without_ten_minutes_left(tmp_path,
                                                                             monkeypatch):
    given = _cut_workers(monkeypatch, [0.0])
    preset = dataclasses.replace(learning.PRESETS["locomotion"], timeout_s=3000.0)
    cells = [learning.Cell(ENV, "dpmd", s, BUDGET) for s in range(3)]
    seen: list[Path] = []
    learning.run_cells(cells, preset, {}, tmp_path / "out", tmp_path / "runs", 1, False, None,
                       on_timeout=lambda w, t: seen.append(w), until=3000.0 + 800.0)
    assert given == [3000.0, 800.0]  # the third would have had no time left
    assert seen == [tmp_path / "runs" / f"{ENV}-dpmd-s{s}" for s in range(2)]
    assert not (tmp_path / "runs" / f"{ENV}-dpmd-s2").exists()
