"""Checkpoints hold named items (format 2), and runs written in format 1 (leaves by position,
tests/data/run-format-1: a tiny DPMD run saved by that code) still load and resume."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import jax
import numpy as np
from helpers_runs import tiny_config

from mjxrsm.rundir.checkpoint import Checkpointer
from mjxrsm.rundir.policy_io import load_config, load_policy
from mjxrsm.train import run

FORMAT_1 = Path(__file__).parent / "data" / "run-format-1"


def _expected() -> dict:
    return json.loads((FORMAT_1 / "expected.json").read_text())


def test_a_format_1_run_loads_its_policy():
    policy = load_policy(FORMAT_1)
    obs = np.linspace(-1, 1, policy.observation_size).astype(np.float32)
    action = policy(jax.numpy.asarray(obs), jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(action), _expected()["action_at_linspace_obs_key0"])


def test_a_format_1_run_resumes_exactly_and_then_writes_format_2(tmp_path):
    work = tmp_path / "r"
    shutil.copytree(FORMAT_1, work)
    config = load_config(work)
    config.total_env_steps = 48
    summary = run(config, work, resume=True, stream=io.StringIO())
    rows = (work / "train.csv").read_text().strip().split("\n")
    want = _expected()["resumed_train_row_48"].split(",")
    got = rows[-1].split(",")
    wall = rows[0].split(",").index("wall_time")
    assert got[:wall] + got[wall + 1:] == want[:wall] + want[wall + 1:]
    assert summary["final_eval_return"] == _expected()["final_eval_return_48"]
    newest = work / "checkpoints" / "48"
    assert {"agent", "env", "buffer", "obs_stats", "key", "counters"} <= {
        p.name for p in newest.iterdir()}
    assert not (newest / "state").exists()


def test_named_items_round_trip_and_load_alone(tmp_path):
    """A format-2 checkpoint restores bit for bit, and a policy reads its two items alone."""
    from mjxrsm.core.trainer import make_trainer

    c = tiny_config("sac", normalize=True)
    tr = make_trainer(c)
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, _ = tr.train_chunk(s)
    ckpt = Checkpointer(tmp_path / "checkpoints", keep=2)
    ckpt.save(16, s, {"env_steps": 16})
    ckpt.close()
    restored, meta = Checkpointer(tmp_path / "checkpoints", keep=2).restore(
        tr.init(jax.random.PRNGKey(1)))
    assert meta["format"] == 2 and set(meta["fingerprints"]) >= {"agent", "env", "counters"}
    for x, y in zip(jax.tree.leaves(s), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    (tmp_path / "config.json").write_text(c.to_json_best_effort())
    policy = load_policy(tmp_path)
    for x, y in zip(jax.tree.leaves(s.agent), jax.tree.leaves(policy.agent_state), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(np.asarray(policy.obs_stats.mean), np.asarray(s.obs_stats.mean))
