"""mjxrsm.diagnose on hand-written run logs: the table, and each known pattern found where it
holds and only there."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mjxrsm import diagnose
from mjxrsm.cli.input import UsageError


def _write(path: Path, header: list[str], rows: list[list[float]]) -> None:
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")


def _run(tmp_path: Path, **columns: list[float]) -> Path:
    """A run directory whose train.csv has 10 rows (env steps 1k..10k) of the given metrics."""
    n = len(next(iter(columns.values())))
    header = ["env_steps", "wall_time", *columns]
    rows = [[1000 * (i + 1), 10.0 * i, *(c[i] for c in columns.values())] for i in range(n)]
    _write(tmp_path / "train.csv", header, rows)
    _write(tmp_path / "eval.csv", ["env_steps", "wall_time", "eval/return_mean"],
           [[3000, 30.0, 100.0], [8000, 80.0, 900.0]])
    return tmp_path


def test_saturated_weights_and_a_settled_temperature_are_found_from_where_they_start(tmp_path):
    run = _run(tmp_path, alpha=[4, 3, 2, 1.2, 1, 1, 1, 1, 1, 1],
               **{"dpmd/frac_at_clip": [0, 0.1, 0.5, 0.95, 0.97, 0.99, 0.99, 0.99, 0.99, 0.99]})
    found = diagnose.findings(diagnose.load_run(run))
    assert len(found) == 2
    clip, alpha = found
    assert clip.startswith("`dpmd/frac_at_clip` = 0.95 → 0.99 from 4,000 env steps to the end")
    assert "q_norm=standardize" in clip
    assert alpha.startswith("`alpha` = 1 → 1 from 5,000 env steps to the end (60% of the run)")


def test_a_pattern_that_holds_early_only_is_reported_with_its_end(tmp_path):
    run = _run(tmp_path, **{"sdac/ess_frac": [0.99, 0.9, 0.8, 0.78, 0.7, 0.6, 0.5, 0.5, 0.5,
                                               0.8]})
    (found,) = diagnose.findings(diagnose.load_run(run))
    assert found.startswith("`sdac/ess_frac` = 0.99 → 0.78 from 1,000 env steps to 4,000 (40%")


def test_a_brief_excursion_is_not_a_finding_and_a_healthy_run_has_none(tmp_path):
    run = _run(tmp_path, alpha=[4, 3, 2, 1.5, 1.2, 1.0, 0.8, 0.6, 0.5, 0.45],
               **{"dpmd/frac_at_clip": [0, 0, 0.95, 0, 0, 0, 0, 0, 0, 0.95]})
    assert diagnose.findings(diagnose.load_run(run)) == []
    assert "none of the known patterns holds" in diagnose.report(run, 5, None)


def test_a_non_finite_metric_is_reported_from_its_first_row(tmp_path):
    run = _run(tmp_path, **{"critic/loss": [1, 1, 2, 5, 1e3, math.inf, math.nan, math.nan,
                                            math.nan, math.nan]})
    (found,) = diagnose.findings(diagnose.load_run(run))
    assert found.startswith("`critic/loss` is not finite from 6,000 env steps")


def test_the_table_samples_the_run_carries_evaluations_forward_and_blanks_empty_chunks(tmp_path):
    run = _run(tmp_path, alpha=[1.0] * 10, **{"train/episodes": [0, 2] * 5,
                                              "train/episode_length": [0, 50] * 5,
                                              "dpmd/ess_frac": [0.5] * 10})
    series = diagnose.load_run(run)
    assert series["eval/return_mean"][:3] == [pytest.approx(math.nan, nan_ok=True)] * 2 + [100.0]
    assert series["eval/return_mean"][-1] == 900.0
    assert math.isnan(series["train/episode_length"][0]) and series["train/episode_length"][1] == 50
    assert diagnose.pick_metrics(series, None) == ["eval/return_mean", "alpha",
                                                   "train/episode_length", "dpmd/ess_frac"]
    assert diagnose.sample_rows(10, 4) == [0, 3, 6, 9]
    table = [line for line in diagnose.report(run, 4, None).splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 4 and table[-1].startswith("| 10,000 | 900 | 1 | 50 | 0.5 |")


def test_bad_input_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(UsageError, match="no train.csv rows"):
        diagnose.load_run(tmp_path)
    run = _run(tmp_path, alpha=[1.0] * 10)
    with pytest.raises(UsageError, match="did not log"):
        diagnose.pick_metrics(diagnose.load_run(run), "alpha,dpmd/ess_frac")
    with pytest.raises(SystemExit) as e:
        diagnose.main([str(run), "--points", "1"])
    assert e.value.code == 2 and capsys.readouterr().err.startswith("error: --points")
