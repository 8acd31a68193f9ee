"""`keep_checkpoints_every`: milestones kept for good beside the latest checkpoints, decided the
same way by a resumed run as by an uninterrupted one, and a bookkeeping setting (a run recorded
before it existed resumes, and its bench cell still counts as the same run)."""

from __future__ import annotations

import numpy as np

from bench.learning import drop_unkept_checkpoints
from mjxrsm.rundir.checkpoint import KEPT, Checkpointer, check_files
from mjxrsm.rundir.workdir import config_changes


def _state(seed: int) -> dict:
    return {"w": np.full((8, 4), seed, np.float32), "n": np.int32(seed)}


def _save_all(ckpt: Checkpointer, steps: list[int]) -> None:
    for s in steps:
        ckpt.save(s, _state(s))


def test_milestones_are_kept_beside_the_latest(tmp_path):
    d = tmp_path / "checkpoints"
    ckpt = Checkpointer(d, keep=2, keep_every=40)
    _save_all(ckpt, [16, 32, 48, 64, 80, 96])
    # 48 and 80 are the first checkpoints at or after 40 and 80; 80 and 96 the two latest
    assert ckpt.all_steps() == [48, 80, 96]
    assert ckpt.kept_steps() == [48, 80]
    assert sorted(p.name for p in d.iterdir() if p.name.isdigit()) == ["48", "80", "96"]
    for step in (48, 80):
        check_files(d / str(step))  # the marker is part of the checkpoint's manifest
        state, meta = ckpt.restore(_state(0), step=step)
        assert meta["step"] == step and np.array_equal(state["w"], _state(step)["w"])
    assert not (d / "96" / KEPT).exists()


def test_a_resumed_run_keeps_the_same_milestones(tmp_path):
    steps = [16, 32, 48, 64, 80, 96, 112, 128, 144]
    whole = Checkpointer(tmp_path / "whole", keep=2, keep_every=40)
    _save_all(whole, steps)
    parts = tmp_path / "parts"
    first = Checkpointer(parts, keep=2, keep_every=40)
    _save_all(first, steps[:4])
    first.close()
    _save_all(Checkpointer(parts, keep=2, keep_every=40), steps[4:])
    resumed = Checkpointer(parts, keep=2, keep_every=40)
    assert resumed.all_steps() == whole.all_steps() == [48, 80, 128, 144]
    assert resumed.kept_steps() == whole.kept_steps() == [48, 80, 128]


def test_without_keep_every_only_the_latest_stay(tmp_path):
    d = tmp_path / "checkpoints"
    ckpt = Checkpointer(d, keep=2)
    _save_all(ckpt, [16, 32, 48, 64])
    assert ckpt.all_steps() == [48, 64] and ckpt.kept_steps() == []
    assert not list(d.rglob(KEPT))


def test_a_finished_bench_run_keeps_only_its_milestones(tmp_path):
    # a bench preset that does not keep finished runs' checkpoints still keeps the fork bases
    d = tmp_path / "checkpoints"
    _save_all(Checkpointer(d, keep=2, keep_every=40), [16, 32, 48, 64, 80, 96])
    drop_unkept_checkpoints(d)
    assert sorted(p.name for p in d.iterdir()) == ["48", "80"]
    assert Checkpointer(d, keep=2).restore(_state(0))[0]["n"] == 80  # (state, step)
    # without milestones nothing is left, not even the folder
    e = tmp_path / "plain"
    _save_all(Checkpointer(e, keep=2), [16, 32])
    drop_unkept_checkpoints(e)
    assert not e.exists()
    drop_unkept_checkpoints(tmp_path / "never-written")  # a run that wrote none


def test_a_run_recorded_before_the_setting_resumes_unchanged():
    saved = {"seed": 0, "keep_checkpoints": 2}  # config.json written before the key existed
    safe, unsafe = config_changes(saved, {**saved, "keep_checkpoints_every": 50_000})
    assert unsafe == [] and safe == ["keep_checkpoints_every: 0 -> 50000"]
    assert config_changes(saved, {**saved, "keep_checkpoints_every": 0}) == ([], [])


def test_humanoid_ant_bench_keeps_fork_bases_without_changing_its_cells():
    from bench.common import config_to_dict
    from bench.learning import PRESETS, beyond_preset, run_config
    from mjxrsm.rundir.workdir import BOOKKEEPING

    preset = PRESETS["humanoid-ant"]
    expected = config_to_dict(run_config("Humanoid-v5", "dpmd", 0, preset, 300_000, {}))
    assert expected["keep_checkpoints_every"] == 50_000
    recorded = {k: v for k, v in expected.items() if k != "keep_checkpoints_every"}  # before it
    safe, unsafe = config_changes(recorded, expected)
    assert unsafe == [] and [c.split(":")[0] for c in safe] == ["keep_checkpoints_every"]
    assert all(c.split(":")[0] in BOOKKEEPING for c in safe)  # the cell counts as done
    cell = {"env": "Humanoid-v5", "algo": "dpmd", "seed": 0, "budget": 300_000,
            "config": recorded}
    assert beyond_preset(cell, preset) == {}


def test_training_keeps_its_milestones(tmp_path):
    """The trainer passes the setting through: a 64-step run saving every 16 with
    keep_checkpoints_every=32 keeps 32 and 64 (milestones) and 48 (one of the two latest)."""
    import io

    from helpers_runs import tiny_config

    from mjxrsm.train import run

    c = tiny_config("sac")
    c.total_env_steps, c.keep_checkpoints_every = 64, 32
    run(c, tmp_path / "run", stream=io.StringIO())
    steps = sorted(int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert steps == [32, 48, 64]
    assert [s for s in steps if (tmp_path / "run" / "checkpoints" / str(s) / KEPT).exists()] \
        == [32, 64]
