"""`bench.gpu` (the GPU session's one command) runs its whole plan's code paths on CPU at tiny
sizes and writes a JSON with every cell measured, so the GPU session does not discover a bug."""

from __future__ import annotations

import json

from bench import gpu


def test_tiny_plan_measures_every_cell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo may write MUJOCO_LOG.TXT into the cwd
    out = tmp_path / "gpu.json"
    gpu.main(["--tiny", "--out", str(out)])
    report = json.loads(out.read_text())
    cells = report["cells"]
    assert [c["cell"] for c in cells] == [c.name for c in gpu.TINY]
    for c in cells:
        assert "error" not in c, c
        assert c["env_steps_per_s"] > 0
        if not c["cell"].startswith("physics/"):
            assert c["updates_per_s"] > 0 and c["updates_per_chunk"] > 0
    physics = [c for c in cells if c["cell"].startswith("physics/")]
    assert physics and all(c["impl"] for c in physics)  # the engines' cells: env step alone
    paper, parallel = cells[0], cells[1]
    assert paper["minutes_per_1m_env_steps"] > 0
    assert parallel["physics"]["env_steps_per_s"] > 0
    assert parallel["num_envs"] == gpu.TINY[1].num_envs
    assert report["provenance"]["versions"]["jax"]
    assert out.with_suffix(".md").read_text().startswith("# GPU benchmark")


def test_budget_skips_cells_and_says_so(tmp_path, monkeypatch):
    """The budget logic alone (measure() faked, so nothing compiles): the first cell always runs,
    later ones are listed as skipped, and a failing cell is recorded without losing the others."""
    calls = []

    def fake_measure(cell, overrides, timing):
        calls.append(cell.name)
        if len(calls) == 1:
            raise MemoryError("out of memory")
        return {"cell": cell.name, "env_steps_per_s": 1.0, "updates_per_s": 1.0,
                "compile_s": 0.0}

    monkeypatch.setattr(gpu, "measure", fake_measure)
    out = tmp_path / "gpu.json"
    gpu.main(["--tiny", "--out", str(out)])
    cells = json.loads(out.read_text())["cells"]
    assert "MemoryError" in cells[0]["error"] and "error" not in cells[1]
    assert len(calls) == len(gpu.TINY)
    calls.clear()
    gpu.main(["--tiny", "--budget-s", "0", "--out", str(out)])  # (a negative one is refused)
    cells = json.loads(out.read_text())["cells"]
    assert len(calls) == 1 and all("skipped" in c for c in cells[1:])
