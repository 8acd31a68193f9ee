"""The fused trainer's contract: config errors before compilation, no recompilation, determinism,
exact resume, NaN handling and checkpoint safety. Tiny nets on the pure-JAX point_mass task."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from configs.train import get_config
from mjxrsm.config.check import ConfigError, validate
from mjxrsm.core.trainer import UpdateSchedule, make_trainer
from mjxrsm.rundir.checkpoint import Checkpointer, CheckpointError
from mjxrsm.train import TrainingDivergedError, check_finite, run

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(algo: str = "dpmd", env: str = "point_mass"):
    c = get_config(f"{env},{algo},cpu")
    c.num_envs = 4
    c.log_every = 16  # 4 iterations per chunk
    c.start_steps = 32
    c.replay_capacity = 256
    c.utd_ratio = 0.5  # 2 updates per vector step
    c.total_env_steps = 10_000
    c.eval_every = 10_000
    c.checkpoint_every = 16
    c.eval_episodes = 2
    c.tensorboard = False
    c.env.episode_length = 20
    c.algo.hidden = (16, 16)
    c.algo.batch_size = 16
    for key, value in {"num_particles": 2, "diffusion_steps": 3}.items():
        if key in c.algo:  # the diffusion agents' keys, whichever algorithm has them
            c.algo[key] = value
    return c


@pytest.fixture(scope="module")
def dpmd_trainer():
    return make_trainer(tiny_config("dpmd"))


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_no_recompile_and_determinism(dpmd_trainer):
    tr = dpmd_trainer
    runs = []
    for _ in range(2):
        s = tr.init(jax.random.PRNGKey(3))
        s, _ = tr.warmup_chunk(s)
        metrics = []
        for _ in range(3):
            s, m = tr.train_chunk(s)
            metrics.append(jax.device_get(m))
        runs.append((metrics, _leaves(s.agent)))
    assert tr.train_chunk._cache_size() == 1, "train_chunk recompiled after the first chunk"
    assert tr.warmup_chunk._cache_size() == 1
    (m1, a1), (m2, a2) = runs
    for x, y in zip(m1, m2, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)
    for x, y in zip(a1, a2, strict=True):
        np.testing.assert_array_equal(x, y)
    # Counters: 3 chunks x 4 iterations x 4 envs, 2 updates per iteration.
    assert int(s.env_steps) == 32 + 3 * 16
    assert int(s.updates) == 3 * 4 * 2
    assert int(s.buffer.size) == 32 + 3 * 16


def test_fractional_utd_runs_updates_every_k_iterations():
    assert UpdateSchedule.from_ratio(0.2, 5) == UpdateSchedule(1, 1)
    assert UpdateSchedule.from_ratio(1 / 128, 1024) == UpdateSchedule(8, 1)
    assert UpdateSchedule.from_ratio(0.125, 4) == UpdateSchedule(1, 2)
    with pytest.raises(ValueError, match="integer"):
        UpdateSchedule.from_ratio(0.3, 5)
    c = tiny_config("sac")
    c.utd_ratio = 0.125  # 1 update every 2 iterations
    tr = make_trainer(c)
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, m = tr.train_chunk(s)
    assert int(s.updates) == 2 and float(m["update/count"]) == 2.0


def test_config_errors_name_the_choices():
    with pytest.raises(ValueError, match="inverted_pendulum"):
        get_config("invertedpendulum,dpmd")
    with pytest.raises(ValueError, match="sdac"):
        get_config("hopper,dpmdd")
    with pytest.raises(ValueError, match="paper"):
        get_config("hopper,dpmd,turbo")
    c = tiny_config()
    c.algo.q_norm = "zscore"
    c.utd_ratio = 0.3
    with pytest.raises(ConfigError) as e:
        validate(c)
    assert "standardize" in str(e.value) and "utd_ratio" in str(e.value)
    c = tiny_config()
    with pytest.raises(TypeError):
        c.algo.lr = "fast"  # ml-collections keeps field types


@pytest.mark.parametrize(
    "override,expect",
    [
        ("--config.algo.no_such_key=1", "no_such_key"),
        ("--config.algo.lr=abc", "lr"),
    ],
)
def test_cli_rejects_bad_overrides(tmp_path, override, expect):
    cmd = [sys.executable, "-m", "mjxrsm.train", "--config=configs/train.py:point_mass,dpmd,cpu",
           f"--workdir={tmp_path / 'run'}", override]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert expect in out.stderr + out.stdout
    assert not (tmp_path / "run").exists(), "a rejected config must not create the run directory"


def test_cli_unknown_env_lists_choices(tmp_path):
    cmd = [sys.executable, "-m", "mjxrsm.train", "--config=configs/train.py:humanoidd,dpmd",
           f"--workdir={tmp_path / 'run'}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "humanoid" in out.stderr + out.stdout and "inverted_pendulum" in out.stderr + out.stdout


def test_resume_equals_uninterrupted_run(tmp_path):
    c = tiny_config("sdac")
    a, b = tmp_path / "a", tmp_path / "b"
    run(c, a, max_chunks=2)
    run(c, b, max_chunks=1)
    run(c, b, resume=True, max_chunks=1)
    ckpt_a, ckpt_b = Checkpointer(a / "checkpoints"), Checkpointer(b / "checkpoints")
    assert ckpt_a.latest_step() == ckpt_b.latest_step() == 32
    template = make_trainer(c).init(jax.random.PRNGKey(0))
    sa, _ = ckpt_a.restore(template)
    sb, _ = ckpt_b.restore(template)
    for x, y in zip(_leaves(sa), _leaves(sb), strict=True):
        np.testing.assert_array_equal(x, y)
    rows_a = (a / "train.csv").read_text().splitlines()
    rows_b = (b / "train.csv").read_text().splitlines()
    strip = lambda rows: [",".join(r.split(",")[:1] + r.split(",")[2:]) for r in rows]  # wall time
    assert strip(rows_a) == strip(rows_b)
    summary = json.loads((b / "summary.json").read_text())
    assert summary["env_steps"] == 32 and summary["evals"]
    assert (b / "learning_curve.png").exists() and (b / "config.json").exists()


def test_resume_after_a_kill_drops_rows_past_the_checkpoint(tmp_path):
    """A run killed after logging past its last checkpoint repeats those steps on resume: the
    logs must not hold them twice (they are moved aside, not lost), and the summary lists the
    evaluations from before the resume too."""
    c = tiny_config("dpmd")
    c.eval_every = 16
    a, b = tmp_path / "a", tmp_path / "b"
    run(c, a, max_chunks=2)
    run(c, b, max_chunks=1)
    # What a kill after logging step 32, before its checkpoint, leaves behind:
    for name in ("train", "eval"):
        rows = (a / f"{name}.csv").read_text().splitlines()
        with (b / f"{name}.csv").open("a") as f:
            f.write(rows[-1] + "\n")
    summary = run(c, b, resume=True, max_chunks=1)
    strip = lambda p: [r.split(",", 2)[::2] for r in p.read_text().splitlines()]  # wall time
    for name in ("train", "eval"):
        assert strip(b / f"{name}.csv") == strip(a / f"{name}.csv")
        assert (b / f"{name}.csv.after-16").exists()
    assert [e["env_steps"] for e in summary["evals"]] == [16, 32]


def test_existing_run_is_not_overwritten(tmp_path):
    c = tiny_config("sac")
    run(c, tmp_path, max_chunks=1)
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    with pytest.raises(FileExistsError, match="--resume"):
        run(c, tmp_path, max_chunks=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before


def test_nan_stops_with_metric_name_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    c = tiny_config("sac")
    run(c, tmp_path, max_chunks=1)  # a good checkpoint at step 16
    # A NaN reward scale is refused as input now; it stands in for a run that diverges.
    monkeypatch.setattr("mjxrsm.train.validate", lambda config: None)
    c.algo.reward_scale = float("nan")
    msg = r"at env step 32 .*critic/loss.*checkpoints/16"
    with pytest.raises(TrainingDivergedError, match=msg):
        run(c, tmp_path, resume=True, max_chunks=1, allow_config_change=True)
    ckpt = Checkpointer(tmp_path / "checkpoints")
    assert ckpt.latest_step() == 16
    state, meta = ckpt.restore(make_trainer(tiny_config("sac")).init(jax.random.PRNGKey(0)))
    assert meta["step"] == 16 and np.isfinite(np.asarray(state.agent.log_alpha))
    with pytest.raises(TrainingDivergedError, match="policy/loss"):
        check_finite({"policy/loss": float("inf"), "alpha": 1.0}, 5, "x")


def test_corrupt_checkpoint_gives_actionable_error(tmp_path):
    c = tiny_config("sac")
    run(c, tmp_path, max_chunks=1)
    step_dir = tmp_path / "checkpoints" / "16"
    for f in step_dir.rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "meta" not in str(f.parent.name):
            f.write_bytes(b"garbage")
    template = make_trainer(c).init(jax.random.PRNGKey(0))
    with pytest.raises(CheckpointError, match="unreadable|different config"):
        Checkpointer(tmp_path / "checkpoints").restore(template)


def test_obs_stats_merge_matches_numpy():
    from mjxrsm.core.normalization import ObsStats

    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(7 * 32, 5)).astype(np.float32)
    stats = ObsStats.init(5)
    for chunk in np.split(data, 7):
        stats = stats.update(jax.numpy.asarray(chunk))
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.m2 / stats.count, data.var(0), rtol=1e-4)
    z = np.asarray(stats.normalize(jax.numpy.asarray(data)))
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-3)
    from mjxrsm.core.normalization import ObservedAgent

    assert ObservedAgent(None, normalize=False).input(stats, data) is data
    np.testing.assert_array_equal(ObservedAgent(None, normalize=True).input(stats, data), z)
    assert ObservedAgent(None, normalize=False).observe(stats, data) is stats


def test_normalized_training_runs():
    c = tiny_config("dpmd")
    c.normalize_obs = True
    tr = make_trainer(c)
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, m = tr.train_chunk(s)
    assert float(s.obs_stats.count) == 32 + 16
    assert all(np.isfinite(float(v)) for v in m.values())


@pytest.mark.slow
@pytest.mark.parametrize("env", ["Hopper-v5", "inverted_pendulum"])
def test_mjx_tasks_train_end_to_end(tmp_path, env):
    """One chunk of DPMD on an MJX task through the CLI's run(): compiles, steps, evaluates."""
    pytest.importorskip("gymnasium")
    c = get_config(f"{env},dpmd,cpu")
    c.start_steps, c.log_every, c.eval_episodes, c.algo.batch_size = 256, 256, 2, 64
    c.tensorboard = False
    summary = run(c, tmp_path, max_chunks=1)
    assert summary["env_steps"] == 256 and np.isfinite(summary["final_eval_return"])
