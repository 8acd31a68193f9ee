"""Record learning runs stopped before their budget, so that every run is reported.

    python -m bench.stopped runs/bench-learning/<dir>/HalfCheetah-v5-dpmd-s1 \
        --why "stopped at 14.4k to free its core" [--key NAME] [--into PATH]

Why: a `bench.learning` cell is written only when its run finishes, and a run's directory lives
in the untracked `runs/`, which a new session's checkout may not have. A run stopped early (out
of time, superseded, or hopeless) would vanish with it. This copies what the run reached — every
evaluation, every logged training row, the full config, the commit and the machine — into a
tracked `stopped.json` (default:
`bench/results/learning/learning-locomotion-cpu-stopped/stopped.json`),
which `bench.compare` lists beside the finished runs. Entries are only ever added: an existing
key is refused, so nothing already recorded is lost.

A run stopped and resumed across sessions is recorded at each stop. A later stop of the same run
stores only the training rows beyond those it shares with an earlier entry of that run, and names
that entry (`train_rows_follow`); `full_train_rows` puts the rows back together.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from bench.cli import ArgumentParser, fail, read_json
from bench.common import RESULTS, exclusive, git_info, host_info, log, write_json
from bench.learning import PRESETS, beyond_preset, read_eval_curve

DEFAULT_INTO = RESULTS / "learning" / "learning-locomotion-cpu-stopped" / "stopped.json"
WHAT = "learning runs stopped before their budget (issue 9), kept so that every run is reported"


def read_train_rows(workdir: Path) -> list[dict[str, float]]:
    """Every row of a run's train.csv, as numbers (empty cells dropped)."""
    path = workdir / "train.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(f)]


def host_line(note: str = "") -> str:
    h = host_info()
    line = f"{h['cpu_model']} ({h['cpu_count']} cores)"
    return f"{line}, {note}" if note else line


def stopped_entry(workdir: Path, why: str, bench_preset: str,
                  host_note: str = "") -> dict[str, Any]:
    """What a stopped run reached, in the form `bench.compare.load_stopped` reads."""
    config_path = workdir / "config.json"
    if not config_path.is_file():
        fail(f"{workdir}: no config.json (is it a run directory?)")
    config = read_json(config_path)
    try:
        run = {"env": config["env"]["name"], "algo": config["algo"]["name"],
               "seed": config["seed"], "budget": config["total_env_steps"], "config": config}
    except (KeyError, TypeError) as e:
        fail(f"{config_path}: not a training config (missing {e}); nothing was written")
    curve = read_eval_curve(workdir)
    if not curve:
        log(f"warning: {workdir} has no evaluation yet; recorded with an empty curve")
    commit = git_info().get("commit") or ""
    return {"overrides": beyond_preset(run, PRESETS[bench_preset]), "curve": curve,
            "train_rows": read_train_rows(workdir), "why_stopped": why, "config": config,
            "commit": commit[:7], "host": host_line(host_note)}


def _rows_shared(a: list[dict[str, float]], b: list[dict[str, float]]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _run_id(entry: dict[str, Any]) -> tuple[Any, ...]:
    config = entry.get("config") or {}
    return (config.get("env", {}).get("name"), config.get("algo", {}).get("name"),
            config.get("seed"), sorted((entry.get("overrides") or {}).items()))


def full_train_rows(runs: dict[str, Any], key: str) -> list[dict[str, float]]:
    """Every training row of entry `key`, including those stored with the entry it follows."""
    entry = runs[key]
    follow = entry.get("train_rows_follow")
    if not follow:
        return list(entry.get("train_rows", []))
    return full_train_rows(runs, follow["entry"])[:follow["rows"]] + entry["train_rows"]


def follow_earlier_stop(runs: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """`entry` storing only the training rows past those it shares with an earlier entry of the
    same run (env, algo, seed and overrides); the entry unchanged when none shares a row."""
    same = [k for k, e in runs.items() if _run_id(e) == _run_id(entry)]
    rows = entry["train_rows"]
    best, shared = None, 0
    for key in same:
        n = _rows_shared(full_train_rows(runs, key), rows)
        if n > shared:
            best, shared = key, n
    if best is None:
        return entry
    return {**entry, "train_rows": rows[shared:],
            "train_rows_follow": {"entry": best, "rows": shared}}


def read_stopped(path: Path, bench_preset: str) -> dict[str, Any]:
    """The stopped-runs file at `path` (a fresh one if absent); fails without writing if it is
    not valid JSON or holds another bench preset's runs."""
    if not path.exists():
        return {"what": WHAT, "bench_preset": bench_preset, "runs": {}}
    data = read_json(path, after="; fix or move it, nothing was written")
    if data.get("bench_preset", bench_preset) != bench_preset:
        fail(f"{path} holds runs of bench preset {data['bench_preset']!r}, not "
             f"{bench_preset!r}: use another --into")
    return data


def default_key(workdir: Path, entry: dict[str, Any]) -> str:
    """<run dir name>-<overrides>-at<last evaluated step>: unique for distinct stopped runs."""
    tags = "-".join(f"{k.split('.')[-1]}{v}" for k, v in sorted(entry["overrides"].items()))
    at = entry["curve"][-1]["env_steps"] if entry["curve"] else 0
    return "-".join(p for p in (workdir.name, tags, f"at{at}") if p).replace(" ", "")


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(prog="python -m bench.stopped", description=__doc__.split("\n\n")[2])
    p.add_argument("runs", nargs="+", type=Path, help="run directories (bench.learning's --runs)")
    p.add_argument("--why", required=True, help="why the run was stopped (kept with it)")
    p.add_argument("--key", help="entry name (one run only; default: dir, overrides, last step)")
    p.add_argument("--into", type=Path, default=DEFAULT_INTO, help="the stopped.json to add to")
    p.add_argument("--preset", default="locomotion", choices=sorted(PRESETS),
                   help="bench.learning preset the runs were started with")
    p.add_argument("--host-note", default="", help="how the machine was shared, e.g. 'pinned'")
    args = p.parse_args(argv)
    if args.key and len(args.runs) > 1:
        fail("--key names one entry: give one run directory with it")
    if not args.why.strip():
        fail("--why is empty: say why the run was stopped")

    entries = [(workdir, stopped_entry(workdir, args.why, args.preset, args.host_note))
               for workdir in args.runs]
    try:
        add_stopped(args.into, args.preset, entries, args.key)
    except ValueError as e:
        fail(str(e))


def add_stopped(into: Path, bench_preset: str, entries: list[tuple[Path, dict[str, Any]]],
                key: str | None = None) -> dict[str, dict[str, Any]]:
    """Add `entries` (run directory, `stopped_entry`) to the file `into` under their default keys
    (or `key`, for one entry) and return them as added. Raises ValueError, writing nothing, if a
    key is taken: entries are never replaced."""
    # Read, add and write under a lock: two sessions' stops into one file keep both entries.
    with exclusive(into.with_name(f".{into.name}.lock")):
        data = read_stopped(into, bench_preset)
        runs = data.setdefault("runs", {})
        added = {}
        for workdir, entry in entries:
            name = key or default_key(workdir, entry)
            if name in runs or name in added:
                raise ValueError(f"{into} already has an entry {name!r}: pass another --key "
                                 "(entries are never replaced)")
            added[name] = follow_earlier_stop({**runs, **added}, entry)
        runs.update(added)
        write_json(into, data)
    for name, entry in added.items():
        last = entry["curve"][-1] if entry["curve"] else None
        reached = (f"{last['return_mean']:,.0f} at {last['env_steps']:,}" if last
                   else "no evaluation")
        log(f"recorded {name} ({reached}) in {into}")
    return added


if __name__ == "__main__":
    main()
