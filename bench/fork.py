"""Compare two runs of one seed that share a start (a fork): paired by evaluation step.

    python -m bench.fork BASE VARIANT [--from 240000] [--to 300000] [--out PATH.json]

(A fork is started with `python -m bench.learning ... --set KEY=VALUE --fork-from
RUN/checkpoints/STEP`, which lays out its run directory with `start_fork` below.)

BASE and VARIANT are each a run directory (its eval.csv), a finished cell (`cells/*.json`) or
a stopped run (`stopped.json:KEY`). Why: a lever tried on one seed is forked from that seed's
checkpoint (replay buffer included), so both arms share everything up to the fork and their
evaluations at the same step are paired; the seed-to-seed spread that `bench.compare`'s
unpaired tests carry is gone, and one seed can order two arms when the lever's effect is large.

The statistic is the mean of the per-step differences (VARIANT − BASE) over the window, with
its standard error. Successive evaluations of one run are correlated (the same policy, a few
thousand updates apart), which makes that standard error too small; the lag-1 autocorrelation
of the differences is reported with the standard error it implies (effective n = n·(1−ρ)/(1+ρ),
ρ ≥ 0), and the verdict uses that one. Steps before the fork point, where both curves
are the same rows, are left out of every window.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from bench.cli import ArgumentParser, fail, nonnegative_int, read_json
from bench.common import git_info, write_json
from bench.learning import read_eval_curve
from mjxrsm.rundir.workdir import CHECKPOINTS, CONFIG_FILE

# What a fork's run directory takes from its base: the config (the fork's own replaces it on
# its first start) and the logs, which the resume cuts at the fork's step.
BASE_FILES = (CONFIG_FILE, "eval.csv", "train.csv")
FORK_FILE = "forked_from.json"
COMMITTED = "commit_success.txt"  # the checkpoint writer's mark of a complete checkpoint


def fork_base(checkpoint: Path) -> tuple[Path, int]:
    """The run directory and step of `RUN/checkpoints/STEP`, or a clear error."""
    step_text, run = checkpoint.name, checkpoint.parent.parent
    if not (checkpoint.is_dir() and step_text.isdigit()
            and checkpoint.parent.name == CHECKPOINTS):
        fail(f"--fork-from {checkpoint}: expected a checkpoint directory RUN/checkpoints/STEP")
    if not (checkpoint / COMMITTED).is_file():
        fail(f"--fork-from {checkpoint}: the checkpoint is incomplete (no {COMMITTED}); "
             "pick an earlier step")
    if not (run / CONFIG_FILE).is_file():
        fail(f"--fork-from {checkpoint}: {run} has no {CONFIG_FILE}")
    return run, int(step_text)


def start_fork(checkpoint: Path, workdir: Path) -> dict[str, Any]:
    """Lay out `workdir` as `checkpoint`'s run stopped at that step, so that resuming it with
    other settings continues from the same state (replay buffer included); returns the record
    written to its `forked_from.json`. Why: the two arms then share everything up to the fork,
    and `bench.fork` pairs their evaluations by step."""
    run, step = fork_base(checkpoint)
    workdir.mkdir(parents=True, exist_ok=True)
    for name in BASE_FILES:
        if (run / name).is_file():
            shutil.copyfile(run / name, workdir / name)
    shutil.copytree(checkpoint, workdir / CHECKPOINTS / str(step))
    record = {"run": str(run.resolve()), "step": step}
    (workdir / FORK_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_curve(source: str) -> tuple[list[dict[str, float]], str]:
    """A run's evaluations (`env_steps`, `return_mean`) and a label, from a run directory, a
    finished cell's JSON, or `stopped.json:KEY`."""
    path_text, _, key = source.partition(".json:")
    path = Path(path_text + ".json") if key else Path(source)
    if path.is_dir():
        curve = read_eval_curve(path)
        if not curve:
            fail(f"{path}: no evaluations (no eval.csv, or an empty one)")
        return curve, path.name
    data = read_json(path, missing="neither a run directory nor a JSON file")
    if key:
        runs = data.get("runs", {}) if isinstance(data, dict) else {}
        if key not in runs:
            fail(f"{path}: no stopped run {key!r} (keys: {', '.join(sorted(runs)) or 'none'})")
        data = runs[key]
    curve = data.get("curve") if isinstance(data, dict) else None
    if not curve:
        fail(f"{source}: no `curve` of evaluations (a cell JSON, or stopped.json:KEY)")
    return curve, key or path.stem


def fork_step(a: dict[int, float], b: dict[int, float]) -> int:
    """The last step up to which both curves are the same rows (0 when they never are)."""
    shared = 0
    for step in sorted(set(a) & set(b)):
        if a[step] != b[step]:
            break
        shared = step
    return shared


def paired(base: list[dict[str, float]], variant: list[dict[str, float]],
           start: int = 0, end: int | None = None) -> dict[str, Any]:
    """VARIANT − BASE over the steps both evaluated after the fork, within [start, end]."""
    a = {int(p["env_steps"]): float(p["return_mean"]) for p in base}
    b = {int(p["env_steps"]): float(p["return_mean"]) for p in variant}
    forked_at = fork_step(a, b)
    steps = [s for s in sorted(set(a) & set(b))
             if s > forked_at and s >= start and (end is None or s <= end)]
    out: dict[str, Any] = {"forked_at": forked_at, "window": [start, end], "steps": steps,
                           "n": len(steps), "base": [a[s] for s in steps],
                           "variant": [b[s] for s in steps]}
    if not steps:
        return out
    diffs = [b[s] - a[s] for s in steps]
    n = len(diffs)
    mean = sum(diffs) / n
    out.update(base_mean=sum(out["base"]) / n, variant_mean=sum(out["variant"]) / n,
               diff_mean=mean)
    if n < 2:
        return out
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    se = math.sqrt(var / n)
    centred = [d - mean for d in diffs]
    denom = sum(c * c for c in centred)
    lagged = zip(centred[:-1], centred[1:], strict=True)
    rho = sum(x * y for x, y in lagged) / denom if denom > 0 else 0.0
    rho_pos = min(max(rho, 0.0), 0.95)
    se_adj = se * math.sqrt((1 + rho_pos) / (1 - rho_pos))  # >= se: rho_pos >= 0
    verdict = ("variant ahead" if mean > 2 * se_adj else
               "base ahead" if mean < -2 * se_adj else "not ordered (|difference| < 2 SE)")
    out.update(diff_se=se, lag1_autocorrelation=rho, diff_se_autocorrelated=se_adj,
               ratio=out["variant_mean"] / out["base_mean"] if out["base_mean"] else None,
               verdict=verdict)
    return out


def markdown(result: dict[str, Any], base_label: str, variant_label: str) -> str:
    lines = [f"Fork of one seed: `{variant_label}` against `{base_label}` (forked after "
             f"{result['forked_at']:,} env steps), {result['n']} paired evaluations"]
    if result["n"] == 0:
        return lines[0] + ": none in the window.\n"
    lines += ["", "| env steps | " + " | ".join(f"{s:,}" for s in result["steps"]) + " |",
              "|---|" + "---|" * result["n"],
              f"| {base_label} | " + " | ".join(f"{v:,.0f}" for v in result["base"]) + " |",
              f"| {variant_label} | " + " | ".join(f"{v:,.0f}" for v in result["variant"]) + " |",
              ""]
    if "diff_se" in result:
        lines.append(
            f"Means {result['base_mean']:,.0f} and {result['variant_mean']:,.0f}; difference "
            f"{result['diff_mean']:+,.0f} ± {result['diff_se']:,.0f} (paired by step; "
            f"± {result['diff_se_autocorrelated']:,.0f} allowing for the lag-1 autocorrelation "
            f"{result['lag1_autocorrelation']:+.2f}); ratio {result['ratio']:.2f}: "
            f"**{result['verdict']}**.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(prog="python -m bench.fork", description=__doc__.split("\n\n")[0])
    p.add_argument("base", help="run directory, cells/*.json, or stopped.json:KEY")
    p.add_argument("variant", help="the same forms as BASE")
    p.add_argument("--from", dest="start", type=nonnegative_int, default=0,
                   help="first env step of the window (default: the fork point)")
    p.add_argument("--to", dest="end", type=nonnegative_int, default=None,
                   help="last env step of the window (default: the last paired evaluation)")
    p.add_argument("--out", type=Path, help="also write the comparison as JSON here")
    args = p.parse_args(argv)
    if args.end is not None and args.end < args.start:
        fail(f"--to {args.end} is before --from {args.start}")
    (base, base_label), (variant, variant_label) = load_curve(args.base), load_curve(args.variant)
    if base_label == variant_label:
        base_label, variant_label = "base", "variant"
    result = paired(base, variant, args.start, args.end)
    print(markdown(result, base_label, variant_label), end="")
    if args.out:
        write_json(args.out, {"base": args.base, "variant": args.variant, **result,
                              "git": git_info()})


if __name__ == "__main__":
    main()
