"""bench.fork on hand-made curves: the shared prefix is found and left out, the paired
difference and its verdict follow the numbers, and every input form reads the same curve."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from bench import fork

SHARED = [(9600, 100.0), (19200, 200.0)]


def _curve(points):
    return [{"env_steps": s, "return_mean": r} for s, r in points]


def _run_dir(path: Path, points) -> Path:
    path.mkdir(parents=True)
    rows = "".join(f"{s},{r},1.0,{s / 10}\n" for s, r in points)
    (path / "eval.csv").write_text("env_steps,eval/return_mean,eval/return_std,wall_time\n" + rows)
    return path


def test_the_shared_prefix_is_left_out_and_the_difference_is_paired_by_step():
    base = _curve(SHARED + [(28800, 300.0), (38400, 310.0), (48000, 290.0)])
    variant = _curve(SHARED + [(28800, 400.0), (38400, 420.0), (48000, 380.0), (57600, 999.0)])
    r = fork.paired(base, variant)
    assert r["forked_at"] == 19200
    assert r["steps"] == [28800, 38400, 48000]          # 57,600: the base has no evaluation
    assert r["diff_mean"] == pytest.approx(100.0)
    diffs = [100.0, 110.0, 90.0]
    se = math.sqrt(sum((d - 100.0) ** 2 for d in diffs) / 2 / 3)
    assert r["diff_se"] == pytest.approx(se)
    assert r["diff_se_autocorrelated"] >= r["diff_se"]
    assert r["verdict"] == "variant ahead"
    assert r["ratio"] == pytest.approx(400.0 / 300.0)


def test_a_window_and_noise_larger_than_the_difference_leave_the_arms_unordered():
    base = _curve(SHARED + [(28800, 300.0), (38400, 500.0), (48000, 300.0), (57600, 500.0)])
    variant = _curve(SHARED + [(28800, 500.0), (38400, 300.0), (48000, 520.0), (57600, 290.0)])
    r = fork.paired(base, variant, start=38400, end=57600)
    assert r["steps"] == [38400, 48000, 57600]
    assert r["verdict"].startswith("not ordered")
    # one paired step: no standard error, so no verdict
    one = fork.paired(base, _curve(SHARED + [(28800, 100.0)]))
    assert one["n"] == 1 and "verdict" not in one


def test_run_directories_cells_and_stopped_entries_give_the_same_curve(tmp_path, capsys):
    points = SHARED + [(28800, 300.0), (38400, 330.0)]
    run = _run_dir(tmp_path / "Humanoid-v5-dpmd-s0", points)
    cell = tmp_path / "cell.json"
    cell.write_text(json.dumps({"curve": _curve(points)}))
    stopped = tmp_path / "stopped.json"
    stopped.write_text(json.dumps({"runs": {"k-at38400": {"curve": _curve(points)}}}))
    want = [(s, r) for s, r in points]
    for source in (str(run), str(cell), f"{stopped}:k-at38400"):
        curve, _ = fork.load_curve(source)
        assert [(int(p["env_steps"]), p["return_mean"]) for p in curve] == want
    other = _run_dir(tmp_path / "fork" / "Humanoid-v5-dpmd-s0",
                     SHARED + [(28800, 400.0), (38400, 420.0)])
    out = tmp_path / "fork.json"
    fork.main([str(run), str(other), "--out", str(out)])
    text = capsys.readouterr().out
    assert "forked after 19,200 env steps" in text and "2 paired evaluations" in text
    saved = json.loads(out.read_text())
    assert saved["steps"] == [28800, 38400] and saved["diff_mean"] == pytest.approx(95.0)


def test_correlated_successive_differences_widen_the_error_and_can_withhold_a_verdict():
    # A slow drift in the difference: lag-1 autocorrelated, so its plain SE overstates the
    # evidence. Plain SE: 60/18 > 2 ("ahead"); allowing for rho 2/3: 60/41 < 2.
    diffs = [-20.0, 0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0]
    steps = [28800 + 9600 * i for i in range(len(diffs))]
    base = _curve(SHARED + [(s, 500.0) for s in steps])
    variant = _curve(SHARED + [(s, 500.0 + d) for s, d in zip(steps, diffs, strict=True)])
    r = fork.paired(base, variant)
    mean = sum(diffs) / len(diffs)
    c = [d - mean for d in diffs]
    rho = sum(x * y for x, y in zip(c[:-1], c[1:], strict=True)) / sum(x * x for x in c)
    assert r["lag1_autocorrelation"] == pytest.approx(rho)
    assert rho > 0.5
    widened = r["diff_se"] * math.sqrt((1 + rho) / (1 - rho))
    assert r["diff_se_autocorrelated"] == pytest.approx(widened)
    assert r["diff_mean"] > 2 * r["diff_se"]
    assert r["verdict"].startswith("not ordered")


@pytest.mark.parametrize("args, message", [
    (["missing", "missing"], "neither a run directory nor a JSON file"),
    (["{stopped}:nope", "{stopped}:nope"], "no stopped run 'nope'"),
    (["{stopped}:k", "{stopped}:k", "--from", "10", "--to", "5"], "--to 5 is before --from 10"),
])
def test_bad_input_is_one_clear_error(tmp_path, capsys, args, message):
    stopped = tmp_path / "stopped.json"
    stopped.write_text(json.dumps({"runs": {"k": {"curve": _curve(SHARED)}}}))
    with pytest.raises(SystemExit) as e:
        fork.main([a.format(stopped=stopped) for a in args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


# ----------------------------------------------------------------------------- starting a fork


def _base_run(path: Path, steps=(640, 1280)) -> Path:
    """A run directory as the trainer leaves it: config, logs and complete checkpoints."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(
        {"env": {"name": "pendulum"}, "algo": {"name": "sac"}, "seed": 3}))
    (path / "eval.csv").write_text("env_steps,eval/return_mean\n640,1.0\n1280,2.0\n")
    (path / "train.csv").write_text("env_steps,wall_time\n640,1.0\n1280,2.0\n")
    for step in steps:
        (path / "checkpoints" / str(step) / "agent").mkdir(parents=True)
        (path / "checkpoints" / str(step) / "commit_success.txt").write_text("ok")
    return path


def test_a_fork_starts_as_its_base_stopped_at_the_checkpoint(tmp_path):
    base = _base_run(tmp_path / "base")
    record = fork.start_fork(base / "checkpoints" / "640", tmp_path / "fork")
    assert record == {"run": str(base.resolve()), "step": 640}
    made = tmp_path / "fork"
    assert sorted(p.name for p in (made / "checkpoints").iterdir()) == ["640"]
    assert (made / "checkpoints" / "640" / "agent").is_dir()
    assert (made / "eval.csv").read_text() == (base / "eval.csv").read_text()
    assert json.loads((made / fork.FORK_FILE).read_text())["step"] == 640


@pytest.mark.parametrize("where, expected", [
    ("base", "RUN/checkpoints/STEP"),                      # a run, not a checkpoint
    ("base/checkpoints/999", "RUN/checkpoints/STEP"),      # no such step
    ("base/checkpoints/1280", "incomplete"),               # being written
])
def test_a_fork_from_anything_but_a_complete_checkpoint_is_refused(tmp_path, capsys, where,
                                                                    expected):
    base = _base_run(tmp_path / "base")
    (base / "checkpoints" / "1280" / "commit_success.txt").unlink()
    with pytest.raises(SystemExit):
        fork.fork_base(tmp_path / where)
    assert expected in capsys.readouterr().err


def test_the_fork_grid_must_be_the_bases_one_run(tmp_path, capsys):
    from bench import learning

    ckpt = _base_run(tmp_path / "base") / "checkpoints" / "640"
    one = [learning.Cell("pendulum", "sac", 3, 1600)]
    learning.check_fork(ckpt, one, tmp_path / "runs")  # accepted
    with pytest.raises(SystemExit):
        learning.check_fork(ckpt, [learning.Cell("pendulum", "sac", s, 1600) for s in (3, 4)],
                            tmp_path / "runs")
    assert "pendulum sac seed 3" in capsys.readouterr().err
    # Once started, the fork resumes with the same command after its base checkpoint is gone.
    fork.start_fork(ckpt, tmp_path / "runs" / one[0].name)
    shutil.rmtree(ckpt)
    learning.check_fork(ckpt, one, tmp_path / "runs")


@pytest.mark.slow
def test_a_forked_run_shares_its_bases_evaluations_up_to_the_fork_then_runs_its_own(tmp_path):
    import dataclasses

    from bench import learning

    spec = {"env": "pendulum", "algo": "sac", "seed": 0, "budget": 1600,
            "preset": dataclasses.asdict(learning.QUICK), "fork_from": None,
            "overrides": {"checkpoint_every": 640, "eval_every": 320}}
    base = learning.worker_run({**spec, "workdir": str(tmp_path / "base")})
    ckpt = sorted((tmp_path / "base" / "checkpoints").iterdir(), key=lambda p: int(p.name))[0]
    step = int(ckpt.name)
    assert step < 1600
    forked = learning.worker_run({**spec, "workdir": str(tmp_path / "fork"),
                                  "fork_from": str(ckpt),
                                  "overrides": {**spec["overrides"], "algo.lr": 1e-2}})
    assert forked["forked_from"]["step"] == step
    assert forked["config"]["algo"]["lr"] == 1e-2
    before = [e for e in base["curve"] if e["env_steps"] <= step]
    assert before and [e for e in forked["curve"] if e["env_steps"] <= step] == before
    after = {e["env_steps"]: e["return_mean"] for e in forked["curve"] if e["env_steps"] > step}
    assert max(after) >= 1600
    assert after != {e["env_steps"]: e["return_mean"] for e in base["curve"]
                     if e["env_steps"] > step}
