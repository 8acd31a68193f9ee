"""Faults lose at most one checkpoint interval, and a resumed run is bit-identical on CPU.

Fast: the checkpointer and the log rewind under injected faults (a damaged or truncated latest
checkpoint, a full disk during a save, the leftovers of a save killed midway, a kill during the
log rewind). Slow (`-m slow`): the real CLI in a child process, SIGKILLed inside a checkpoint
write, inside an evaluation and at random moments, then resumed with `--resume` until done and
compared with an uninterrupted run (final checkpoint digest, every log row).
"""

from __future__ import annotations

import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mjxrsm.rundir.checkpoint import Checkpointer, CheckpointError
from mjxrsm.rundir.reporting import Reporter

ROOT = Path(__file__).resolve().parents[1]


def _state(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(64, 32)).astype(np.float32), "n": np.int32(seed)}


def _equal(a: dict, b: dict) -> bool:
    return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def _largest_file(path: Path) -> Path:
    return max((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def _truncate(step_dir: Path) -> None:
    f = _largest_file(step_dir)
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _flip_bytes(step_dir: Path) -> None:
    f = _largest_file(step_dir)
    data = bytearray(f.read_bytes())
    for i in range(len(data) // 2, min(len(data), len(data) // 2 + 64)):
        data[i] ^= 0xFF
    f.write_bytes(bytes(data))


def _drop_meta(step_dir: Path) -> None:
    (step_dir / "meta" / "metadata").unlink()


def _truncate_unlisted(step_dir: Path) -> None:
    """A checkpoint without its file manifest (killed before writing it): Orbax and the array
    digest must catch the damage on their own."""
    (step_dir / "mjxrsm-files.json").unlink()
    _truncate(step_dir)


@pytest.mark.parametrize("damage", [_truncate, _flip_bytes, _drop_meta, _truncate_unlisted],
                         ids=["truncated", "flipped-bytes", "meta-missing", "no-manifest"])
def test_damaged_latest_checkpoint_falls_back_to_the_previous(tmp_path, damage):
    d = tmp_path / "checkpoints"
    ckpt = Checkpointer(d, keep=2)
    ckpt.save(16, _state(16))
    ckpt.save(32, _state(32))
    ckpt.close()
    damage(d / "32")
    out = io.StringIO()
    ckpt = Checkpointer(d, keep=2, stream=out)
    state, meta = ckpt.restore(_state(0))
    assert meta["step"] == 16 and _equal(state, _state(16))
    assert "fell back to checkpoint" in out.getvalue() and str(d / "16") in out.getvalue()
    assert ckpt.all_steps() == [16] and len(list((tmp_path / "checkpoints.unreadable").iterdir()))
    ckpt.save(32, _state(32))  # the resumed run writes that step again
    assert Checkpointer(d).restore(_state(0))[1]["step"] == 32


def test_only_checkpoint_damaged_is_an_error_not_a_crash(tmp_path):
    ckpt = Checkpointer(tmp_path / "c")
    ckpt.save(16, _state(16))
    ckpt.close()
    _truncate(tmp_path / "c" / "16")
    with pytest.raises(CheckpointError, match="no earlier checkpoint"):
        Checkpointer(tmp_path / "c", stream=io.StringIO()).restore(_state(0))


def test_full_disk_during_a_save_keeps_the_last_complete_checkpoint(tmp_path, monkeypatch):
    d = tmp_path / "checkpoints"
    ckpt = Checkpointer(d)
    ckpt.save(16, _state(16))

    def disk_full(step, args):  # what a full disk leaves: part of a temporary dir, then ENOSPC
        partial = d / f"{step}.orbax-checkpoint-tmp" / "tree"
        partial.mkdir(parents=True)
        (partial / "d").write_bytes(b"\0" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(partial))

    monkeypatch.setattr(ckpt._manager, "save", disk_full)
    with pytest.raises(CheckpointError, match=r"No space left.*last complete checkpoint is .*16"):
        ckpt.save(32, _state(32))
    assert not list(d.glob("32*")), "the failed save left its temporary directory"
    state, meta = Checkpointer(d).restore(_state(0))
    assert meta["step"] == 16 and _equal(state, _state(16))


def test_save_killed_midway_leaves_nothing_that_loads(tmp_path):
    d = tmp_path / "checkpoints"
    ckpt = Checkpointer(d)
    ckpt.save(16, _state(16))
    ckpt.close()
    shutil.copytree(d / "16", d / "32.orbax-checkpoint-tmp")  # a write killed before its rename
    _truncate(d / "32.orbax-checkpoint-tmp")
    ckpt = Checkpointer(d)
    assert ckpt.all_steps() == [16] and not list(d.glob("32*"))
    assert ckpt.restore(_state(0))[1]["step"] == 16


def _csv(path: Path, rows: list[str], tail: str = "") -> None:
    path.write_text("env_steps,wall_time,eval/return_mean,eval/return_std\n"
                    + "".join(r + "\n" for r in rows) + tail)


def test_log_rewind_survives_a_kill_in_the_middle(tmp_path, monkeypatch):
    rows = ["16,1.0,5.0,1.0", "32,2.0,6.0,1.0", "48,3.0,7.0,1.0"]
    _csv(tmp_path / "eval.csv", rows, tail="6")  # a row cut short by a kill
    original = (tmp_path / "eval.csv").read_text()

    def killed(self, target):
        raise KeyboardInterrupt("killed between the copy and the replace")

    monkeypatch.setattr(Path, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        Reporter(tmp_path, 64, tensorboard=False).rewind(32)
    assert (tmp_path / "eval.csv").read_text() == original, "the log was lost or changed"
    monkeypatch.undo()
    reporter = Reporter(tmp_path, 64, tensorboard=False)
    reporter.rewind(32)
    assert (tmp_path / "eval.csv").read_text().splitlines()[1:] == rows[:2]
    assert (tmp_path / "eval.csv.after-32").read_text() == original
    assert [e[0] for e in reporter.evals] == [16, 32]
    # The wall clock continues from the last kept row (2.0 s), not from 0: curves against wall
    # time stay monotone across a resume, and the summary's wall time is the whole run's.
    assert 2.0 <= reporter.elapsed() < 2.0 + 5.0
    reporter.log("eval", 48, {"eval/return_mean": 7.5, "eval/return_std": 1.0})
    last = (tmp_path / "eval.csv").read_text().splitlines()[-1].split(",")
    assert last[0] == "48" and float(last[1]) >= 2.0


# ---- the real CLI, killed with SIGKILL (slow) ------------------------------------------------

TINY = ["--config=configs/train.py:point_mass,sac,cpu", "--config.num_envs=4",
        "--config.log_every=16", "--config.start_steps=32", "--config.replay_capacity=256",
        "--config.utd_ratio=0.5", "--config.total_env_steps=64", "--config.eval_every=32",
        "--config.checkpoint_every=16", "--config.eval_episodes=2", "--config.tensorboard=False",
        "--config.env.episode_length=20", "--config.algo.hidden=(16,16)",
        "--config.algo.batch_size=16"]


def _child(hold: str, workdir: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "tests" / "helpers_faults.py"), hold, "--", *TINY,
           f"--workdir={workdir}", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "JAX_COMPILATION_CACHE_DIR": ""})


def _finish(workdir: Path, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mjxrsm.train", *TINY, f"--workdir={workdir}",
                          *extra], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-6000:]
    return out.stdout


def _kill_when(proc: subprocess.Popen, marker: str, timeout: float = 1200) -> None:
    """SIGKILL the child once a line of its stderr starts with `marker`."""
    seen = threading.Event()

    def watch():
        for line in proc.stderr:
            if line.startswith(marker):
                seen.set()
                return

    threading.Thread(target=watch, daemon=True).start()
    assert seen.wait(timeout), f"the child never reached {marker!r}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _final_digest(workdir: Path) -> str:
    step = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    return json.loads((workdir / "checkpoints" / str(step) / "meta" / "metadata").read_text())


def _rows(path: Path) -> list[list[str]]:
    rows = [r.split(",") for r in path.read_text().splitlines()]
    return [r[:1] + r[2:] for r in rows]  # without wall_time


def _assert_same_run(run: Path, reference: Path) -> None:
    assert _final_digest(run) == _final_digest(reference)
    for name in ("train.csv", "eval.csv"):
        rows = _rows(run / name)
        assert rows == _rows(reference / name), name
        steps = [r[0] for r in rows[1:]]
        assert len(steps) == len(set(steps)), f"{name} has duplicated rows"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] and summary["env_steps"] == 64


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reference") / "run"
    _finish(workdir)
    return workdir


@pytest.mark.slow
def test_sigkill_inside_a_checkpoint_write(tmp_path, reference):
    run = tmp_path / "run"
    _kill_when(_child("save:32", run), "HOLD save")  # inside the write of the second checkpoint
    assert list((run / "checkpoints").glob("32.orbax-checkpoint-tmp*")), "not killed mid-write"
    out = _finish(run, "--resume")
    assert "resumed from" in out and "checkpoints/16" in out
    assert not list((run / "checkpoints").glob("*tmp*"))
    _assert_same_run(run, reference)


@pytest.mark.slow
def test_sigkill_inside_an_evaluation(tmp_path, reference):
    run = tmp_path / "run"
    _kill_when(_child("eval:1", run), "HOLD eval")
    _finish(run, "--resume")
    _assert_same_run(run, reference)


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path, reference):
    """Three kills at random times after compilation starts; each restart resumes the last."""
    run, rng = tmp_path / "run", random.Random(os.getpid())
    for _ in range(3):
        proc = _child("none", run, *(["--resume"] if (run / "config.json").exists() else []))
        started = threading.Event()

        def watch(p=proc, ev=started):
            for line in p.stdout:
                if line.startswith("compiling the training chunk"):
                    ev.set()

        threading.Thread(target=watch, daemon=True).start()
        started.wait(1200)
        time.sleep(rng.uniform(0.0, 45.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _finish(run, "--resume")
    _assert_same_run(run, reference)


@pytest.mark.slow
def test_damaged_latest_checkpoint_resume_is_bit_identical(tmp_path, reference):
    run = tmp_path / "run"
    _finish(run, "--max_chunks=3")  # checkpoints 32 and 48 (keep 2)
    _truncate(run / "checkpoints" / "48")
    out = _finish(run, "--resume")
    assert "fell back to checkpoint" in out
    _assert_same_run(run, reference)
