"""Why a run learned or did not, from what it logged: its metrics at a few points, and the
patterns known to hold learning back, each with the lever that addresses it.

    python -m mjxrsm.diagnose runs/hopper-dpmd-cpu                 # one run
    python -m mjxrsm.diagnose runs/a runs/b --points 12 --metrics all
    make diagnose RUN=runs/hopper-dpmd-cpu

Why: every learning diagnosis in docs/experiments/ (saturated DPMD weights, a temperature that
stopped moving, near-uniform SDAC weights, DACER's actions pinned to the box) was read off a
run's `train.csv` by hand. This prints the same table for any run, while it trains or after,
and names those patterns where they hold. A pattern is data (`PATTERNS`), keyed by the metric it
reads, so an agent that logs the metric gets the check.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
from collections.abc import Callable
from pathlib import Path

from mjxrsm.cli.input import UsageError, refuse

# Shown by default, in this order, when the run logged them; then every `<algo>/...` metric.
HEADLINE = ("eval/return_mean", "alpha", "entropy", "entropy_proxy", "critic/loss",
            "critic/q_mean", "train/episode_length")
GENERIC_PREFIXES = ("critic/", "policy/", "train/", "update/", "q_stats/", "eval/")
PER_EPISODE = ("train/episode_return", "train/episode_length")  # nan: no episode ended then
SUSTAINED = 0.25  # a pattern counts when it holds over at least this fraction of the logged rows


@dataclasses.dataclass(frozen=True)
class Pattern:
    """A condition on one metric that, held to the end of a run, limits learning."""

    metric: str
    holds: Callable[[list[float], int], bool]  # (series, row) -> does it hold at that row
    says: str  # what it means, and the lever


def _at_least(threshold: float) -> Callable[[list[float], int], bool]:
    return lambda series, i: series[i] >= threshold


def _settled(series: list[float], i: int) -> bool:
    """From row i to the end the value stays within 1% of where it is."""
    rest = series[i:]
    return max(rest) - min(rest) <= 0.01 * max(abs(series[i]), 1e-12)


PATTERNS = (
    Pattern("dpmd/frac_at_clip", _at_least(0.9),
            "at least 90% of DPMD's weights sit at the clip: the policy step is unweighted "
            "imitation of the particles, selection by the critic only (the official q_norm; "
            "lever: --config.algo.q_norm=standardize)"),
    Pattern("sdac/ess_frac", _at_least(0.75),
            "SDAC's candidate weights are nearly uniform (effective sample size >= 75%): the "
            "policy target is close to plain denoising (lever: a lower temperature, "
            "--config.algo.temp_factor above 5 or a fixed --config.algo.rsm_temperature)"),
    Pattern("dacer/frac_at_bound", _at_least(0.9),
            "at least 90% of DACER's chain actions sit on the action box, where the sampler's "
            "clip passes no gradient back to the policy"),
    Pattern("alpha", _settled,
            "the temperature stopped moving: its loss has no gradient left (for the diffusion "
            "agents the entropy proxy sits at its floor, so alpha no longer tracks the policy)"),
)


def read_csv(path: Path) -> tuple[list[str], list[list[float]]]:
    """Header and float rows of a run's CSV log (empty if the run has not logged yet)."""
    if not path.is_file():
        return [], []
    with path.open() as f:
        rows = list(csv.reader(f))
    if not rows:
        return [], []
    header, body = rows[0], []
    for row in rows[1:]:
        if len(row) == len(header):
            body.append([float(v) if v not in ("", "nan") else math.nan for v in row])
    return header, body


def load_run(workdir: Path) -> dict[str, list[float]]:
    """Every metric of a run by name, on the train log's env steps; evaluation metrics are
    carried forward from the last evaluation at or before each step (nan before the first)."""
    header, rows = read_csv(workdir / "train.csv")
    if not rows:
        raise UsageError(f"{workdir}: no train.csv rows (is it a run directory, and has it "
                         "logged its first chunk?)")
    series = {name: [r[j] for r in rows] for j, name in enumerate(header)}
    if "train/episodes" in series:  # a chunk in which no episode ended logs 0 for them
        for name in PER_EPISODE:
            if name in series:
                series[name] = [math.nan if n == 0 else v for v, n in
                                zip(series[name], series["train/episodes"], strict=True)]
    eval_header, eval_rows = read_csv(workdir / "eval.csv")
    for j, name in enumerate(eval_header):
        if not name.startswith("eval/"):  # env_steps, and the evaluation's own wall_time
            continue
        values = []
        for step in series["env_steps"]:
            before = [r[j] for r in eval_rows if r[0] <= step]
            values.append(before[-1] if before else math.nan)
        series[name] = values
    return series


def pick_metrics(series: dict[str, list[float]], wanted: str | None) -> list[str]:
    """`wanted` ("all", or comma-separated names), else the headline metrics the run logged and
    every algorithm-specific one."""
    names = [n for n in series if n not in ("env_steps", "wall_time")]
    if wanted == "all":
        return names
    if wanted:
        chosen = [n.strip() for n in wanted.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in series]
        if unknown:
            raise UsageError(f"--metrics: the run did not log {unknown}; it logged {names}")
        return chosen
    own = [n for n in names if "/" in n and not n.startswith(GENERIC_PREFIXES)]
    return [n for n in HEADLINE if n in series] + own


def sample_rows(n_rows: int, points: int) -> list[int]:
    """`points` row indices spread evenly over the run, the last row always included."""
    if n_rows <= points:
        return list(range(n_rows))
    return sorted({round(i * (n_rows - 1) / (points - 1)) for i in range(points)})


def longest_stretch(values: list[float], holds: Callable[[list[float], int], bool]
                    ) -> tuple[int, int]:
    """[start, end) of the longest run of consecutive rows where `holds`; (0, 0) if none."""
    best, start = (0, 0), None
    for i in range(len(values) + 1):
        if i < len(values) and holds(values, i):
            start = i if start is None else start
        elif start is not None:
            best = max(best, (start, i), key=lambda b: b[1] - b[0])
            start = None
    return best


def findings(series: dict[str, list[float]]) -> list[str]:
    """The PATTERNS that hold over a stretch of at least SUSTAINED of the run's rows (the
    longest such stretch), and every metric that went non-finite, as sentences."""
    steps = series["env_steps"]
    out = []
    for name, values in series.items():
        gaps_mean_nothing = name.startswith("eval/") or name in PER_EPISODE
        bad = [i for i, v in enumerate(values)
               if math.isinf(v) or (math.isnan(v) and not gaps_mean_nothing)]
        if bad:
            out.append(f"`{name}` is not finite from {steps[bad[0]]:,.0f} env steps: the run "
                       "diverged there (the NaN guard stops it; see docs/RELIABILITY.md)")
    for p in PATTERNS:
        values = series.get(p.metric)
        if not values or any(not math.isfinite(v) for v in values):
            continue
        start, end = longest_stretch(values, p.holds)
        if end - start >= max(2, SUSTAINED * len(values)):
            until = "the end" if end == len(values) else f"{steps[end - 1]:,.0f}"
            out.append(f"`{p.metric}` = {values[start]:.3g} → {values[end - 1]:.3g} from "
                       f"{steps[start]:,.0f} env steps to {until} "
                       f"({100 * (end - start) / len(values):.0f}% of the run): {p.says}")
    return out


def _cell(v: float) -> str:
    if not math.isfinite(v):
        return "-" if math.isnan(v) else str(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def report(workdir: Path, points: int, metrics: str | None) -> str:
    series = load_run(workdir)
    names = pick_metrics(series, metrics)
    rows = sample_rows(len(series["env_steps"]), points)
    lines = [f"## {workdir}", "",
             "| env steps | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for i in rows:
        lines.append(f"| {series['env_steps'][i]:,.0f} | "
                     + " | ".join(_cell(series[n][i]) for n in names) + " |")
    found = findings(series)
    lines += ["", "Findings:" if found else "Findings: none of the known patterns holds.", ""]
    lines += [f"- {f}" for f in found]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m mjxrsm.diagnose",
                                description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (with train.csv)")
    p.add_argument("--points", type=int, default=10, help="rows of the table (default 10)")
    p.add_argument("--metrics", help="'all', or comma-separated metric names (default: the "
                                     "headline ones and the algorithm's own)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.points < 2:
            raise UsageError("--points must be at least 2")
        print("\n".join(report(r, args.points, args.metrics) for r in args.runs))
    except UsageError as e:
        refuse(e)


if __name__ == "__main__":
    main()
