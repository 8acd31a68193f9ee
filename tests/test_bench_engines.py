"""bench/engines.py: raw and c measured side by side give their ratio as the median of the
rounds' ratios, and the report says so."""

from __future__ import annotations

from bench import engines


def _cells() -> list[dict]:
    spec = {"task": "Hopper-v5", "num_envs": 256, "seconds": 2.0, "rounds": 3}
    return [
        {**spec, "engine": "raw", "env_steps_per_s": 30_000.0, "s_per_vector_step": 256 / 3e4},
        {**spec, "engine": "c", "env_steps_per_s": 24_000.0, "s_per_vector_step": 256 / 2.4e4,
         "c_over_raw_by_round": [0.9, 0.5, 0.7]},
        {"task": "Hopper-v5", "num_envs": 256, "engine": "jax", "env_steps_per_s": 400.0,
         "s_per_vector_step": 0.64},
    ]


def test_ratio_is_the_median_of_the_rounds():
    (row,) = engines.summarize(_cells())
    assert row["c_over_raw"] == 0.7  # not 24k / 30k: the rounds were timed back to back
    assert row["c_over_jax"] == 60.0


def test_ratio_without_rounds_is_the_ratio_of_the_cells():
    cells = _cells()
    del cells[1]["c_over_raw_by_round"]
    (row,) = engines.summarize(cells)
    assert row["c_over_raw"] == 0.8


def test_report_names_the_side_by_side_method():
    result = {"provenance": {"hardware": {"cpu_model": "X", "cpu_usable": 2},
                             "git": {"commit": "abc"}}, "cells": _cells()}
    result["summary"] = engines.summarize(result["cells"])
    text = engines.report(result)
    assert "3 rounds" in text and "| Hopper-v5 | 256 |" in text
