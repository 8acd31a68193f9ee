"""bench/engines_training.py: cells parse as TASK:ALGO:NUM_ENVS:UTD, a bad one is refused in one
line, and the report puts the engines side by side with their ratio."""

from __future__ import annotations

import pytest

from bench import engines_training as et


def test_parse_cell_reads_fractions_and_refuses_bad_cells(capsys):
    assert et.parse_cell("HalfCheetah-v5:dpmd:256:1/16") == {
        "task": "HalfCheetah-v5", "algo": "dpmd", "num_envs": 256, "utd_ratio": 0.0625}
    for bad in ("HalfCheetah-v5:dpmd:256", "HalfCheetah-v5:dpmd:x:1", "HalfCheetah-v5:sac:1:1/0"):
        with pytest.raises(SystemExit):
            et.parse_cell(bad)
        assert capsys.readouterr().err.count("\n") == 1


def test_chunks_hold_the_same_number_of_updates():
    for cell, iters in (("HalfCheetah-v5:sac:1:1", 512), ("HalfCheetah-v5:dpmd:16:1", 32),
                        ("HalfCheetah-v5:dpmd:256:1/16", 32)):
        assert et.iterations_for(et.parse_cell(cell), 512) == iters


def test_cell_config_sets_the_regime():
    spec = {**et.parse_cell("HalfCheetah-v5:sac:256:1/16"), "iterations": 4}
    c = et.cell_config(spec)
    assert (c.num_envs, c.utd_ratio, c.log_every) == (256, 0.0625, 1024)


def test_report_compares_the_engines():
    cell = {"task": "Hopper-v5", "algo": "sac", "num_envs": 1, "utd_ratio": 1.0,
            "engines": {"c": {"env_steps_per_s": 150.0, "updates_per_s": 150.0},
                        "jax": {"env_steps_per_s": 100.0, "updates_per_s": 100.0}}}
    text = et.report({"provenance": {"hardware": {"cpu_model": "X", "cpu_usable": 2}},
                      "cells": [cell]})
    assert "| Hopper-v5 | sac | 1 | 1 | 150 | 100 | 150 | 100 | 1.5 |" in text
