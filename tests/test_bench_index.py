"""`python -m bench.index`: every results entry listed under its kind, described from its JSON."""

from __future__ import annotations

import json

from bench import index


def test_index_lists_each_entry_with_its_provenance(tmp_path):
    run = tmp_path / "learning" / "learning-x" / "cells"
    run.mkdir(parents=True)
    for seed in (0, 1):
        (run / f"Hopper-v5-dpmd-s{seed}.json").write_text(json.dumps(
            {"env": "Hopper-v5", "algo": "dpmd", "seed": seed, "trainer_preset": "cpu",
             "git": {"commit": "abcdef123456"}, "hardware": {"cpu_model": "Some CPU"}}))
    (tmp_path / "throughput").mkdir()
    (tmp_path / "throughput" / "engines-cpu.json").write_text(json.dumps(
        {"benchmark": "bench.engines", "provenance": {"git": {"commit": "0123456789"},
                                                      "hardware": {"cpu_model": "Some CPU"}}}))
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "broken.json").write_text("{not json")
    index.main([str(tmp_path)])
    text = (tmp_path / "README.md").read_text()
    assert "| [learning-x/](learning/learning-x/) | Hopper-v5; dpmd; seeds 0,1 | cpu | abcdef12 |" \
        in text
    assert "bench.engines" in text and "01234567" in text
    assert "not JSON" in text
    assert text.index("## throughput/") < text.index("## learning/") < text.index("## archive/")
