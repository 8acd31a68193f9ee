"""Learning benchmark: evaluation return vs env steps for dpmd, sdac and sac over several seeds.

    python -m bench.learning                      # CPU preset: inverted_pendulum, ~40 min, 2 cores
    python -m bench.learning --preset gpu         # official settings, 1M env steps, 5 tasks
    python -m bench.learning --envs hopper --algos dpmd,sac --seeds 5 --budget 100000
    python -m bench.learning --report-only        # re-plot / re-tabulate what is there
    python -m bench.learning --quick --out /tmp/learning-smoke   # smoke test (toy task)

Every (env, algo, seed) is one `mjxrsm.train.run` in its own process, in its own run directory.
The benchmark is incremental: a cell whose result JSON exists is not run again, and an
interrupted cell resumes from its last checkpoint. Results: `<out>/cells/*.json` (one per run),
`<out>/learning.json` (all curves, aggregates, provenance), `<out>/learning.md` (final returns at
fixed budgets, mean +- standard error over seeds) and one `<out>/<env>.png` per env.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.cli import (
    ArgumentParser,
    check_envs,
    clock_time,
    fail,
    nonnegative_int,
    positive_float,
    positive_int,
)
from bench.common import (
    RESULTS,
    ROOT,
    config_to_dict,
    device_slug,
    exclusive,
    fmt,
    fmt_band,
    host_info,
    log,
    md_table,
    provenance,
    run_worker,
    worker_main,
    write_json,
)
from bench.report import algo_color
from mjxrsm.config.algorithms import algorithm_names
from mjxrsm.config.overrides import OverrideError, apply_overrides, has_key, parse_assignments
from mjxrsm.config.ranges import flat_items
from mjxrsm.rundir.workdir import (
    ABSENT_MEANS,
    BOOKKEEPING,
    CONFIG_FILE,
    KEPT,
    config_changes,
    has_run,
    same_setting,
)

MODULE = "bench.learning"
LOCK_NAME = ".learning.lock"  # serialises the rebuild of a results directory's report
ALGOS = tuple(algorithm_names())  # every registered algorithm (mjxrsm/config/algorithms.py)


@dataclasses.dataclass(frozen=True)
class LearningPreset:
    """What a preset runs; every field has a CLI override."""

    trainer_preset: str  # configs/train.py preset of every run
    envs: tuple[str, ...]
    algos: tuple[str, ...]
    seeds: int
    budgets: dict[str, int]  # env steps after warm-up, per env ("*" = any other env)
    evals_per_run: int  # evaluations spread evenly over the budget
    table_fractions: tuple[float, ...]  # budgets of the final-return table, as budget fractions
    jobs: int  # runs at a time (CPU: 2 processes overlap their single-threaded compiles)
    overrides: dict[str, Any]
    timeout_s: float  # per run
    keep_checkpoints: bool = False  # keep finished runs' checkpoints (to evaluate or film them)
    # also keep one checkpoint per this many env steps, for good (0: none): fork bases for levers
    keep_checkpoints_every: int = 0


PRESETS = {
    "cpu": LearningPreset(
        # ~40 min on 2 cores: one task the cpu preset solves. Add small tasks with
        # --envs inverted_pendulum,reacher,hopper (budgets below; each adds ~30 min per seed).
        trainer_preset="cpu", envs=("inverted_pendulum",), algos=ALGOS,
        seeds=2, budgets={"inverted_pendulum": 32_000, "reacher": 50_000, "hopper": 50_000},
        evals_per_run=8, table_fractions=(0.5, 1.0), jobs=2, overrides={}, timeout_s=3600,
    ),
    "locomotion": LearningPreset(
        # Issue 9's sample-efficiency regime on 2 cores: Gymnasium-v5 locomotion at 100k env
        # steps with the cpu trainer preset (UTD 1). A DPMD run is ~35 min alone, SAC ~5 min.
        trainer_preset="cpu", envs=("HalfCheetah-v5", "Hopper-v5"), algos=ALGOS, seeds=2,
        budgets={"*": 100_000}, evals_per_run=20, table_fractions=(0.25, 0.5, 1.0), jobs=1,
        overrides={}, timeout_s=4 * 3600,
    ),
    "humanoid-ant": LearningPreset(
        # The paper's hardest tasks at the cpu trainer preset (UTD 1) on the C engine: 300k env
        # steps = 300k updates, more than the paper's 1M steps at UTD 0.2. One run per pinned
        # core; the cells resume across sessions. DPMD ~5 h per seed (~16 updates/s), SAC
        # ~1.5 h. One checkpoint per 50k env steps stays for good: fork bases for levers.
        trainer_preset="cpu", envs=("Humanoid-v5", "Ant-v5"), algos=("dpmd", "sac"), seeds=3,
        budgets={"*": 300_000}, evals_per_run=30, table_fractions=(1 / 3, 2 / 3, 1.0), jobs=1,
        overrides={}, timeout_s=48 * 3600, keep_checkpoints=True, keep_checkpoints_every=50_000,
    ),
    "humanoid-parallel": LearningPreset(
        # The massively-parallel regime on Humanoid-v5: DPMD at the parallel trainer preset (1024
        # envs, batch 1024, UTD 1/16), 4.8M env steps = 300k updates. A GPU job (make
        # bench-gpu-humanoid): on a CPU core shared with a second run it updates 0.6 times a
        # second, so a run would take about 6 days.
        trainer_preset="parallel", envs=("Humanoid-v5",), algos=("dpmd",), seeds=1,
        budgets={"*": 4_800_000}, evals_per_run=24, table_fractions=(0.25, 0.5, 1.0), jobs=1,
        overrides={}, timeout_s=3600,
    ),
    "gpu": LearningPreset(
        trainer_preset="paper", envs=("humanoid", "ant", "halfcheetah", "walker2d", "hopper"),
        algos=ALGOS, seeds=3, budgets={"*": 1_000_000}, evals_per_run=20,
        table_fractions=(0.25, 0.5, 1.0), jobs=1, overrides={}, timeout_s=6 * 3600,
    ),
}
# Published SAC evaluation returns (means over 10 seeds; two public benchmark data sets, Gym v3/v4
# tasks) at env steps: the band our SAC must reach before any comparison with it means anything.
PUBLISHED_SAC: dict[str, dict[int, tuple[float, float]]] = {
    "HalfCheetah-v5": {50_000: (4_200, 4_700), 100_000: (6_200, 6_500)},
    "Hopper-v5": {50_000: (500, 850), 100_000: (1_100, 2_600)},
    "Humanoid-v5": {300_000: (2_000, 3_000), 500_000: (3_300, 3_500)},
    "Ant-v5": {300_000: (3_500, 3_500)},
}

QUICK = LearningPreset(
    trainer_preset="cpu", envs=("pendulum",), algos=ALGOS, seeds=2, budgets={"*": 1_600},
    evals_per_run=2, table_fractions=(0.5, 1.0), jobs=2,
    overrides={"algo.hidden": (32, 32), "algo.batch_size": 32, "algo.num_particles": 4,
               "algo.diffusion_steps": 4, "algo.num_candidates": 8, "start_steps": 256,
               "replay_capacity": 4096, "eval_episodes": 2, "log_every": 320},
    timeout_s=900,
)


# ============================================================================= worker


def run_config(env: str, algo: str, seed: int, preset: LearningPreset, budget: int,
               overrides: dict[str, Any]):
    """The config of one run: preset + budget-derived schedule + user overrides."""
    from configs.train import get_config
    from mjxrsm.config.check import validate

    config = get_config(f"{env},{algo},{preset.trainer_preset}")
    config.seed = seed
    config.total_env_steps = budget
    config.keep_checkpoints = 2  # the fewest the checkpoint fallback needs; deleted at the end
    config.keep_checkpoints_every = preset.keep_checkpoints_every
    config.tensorboard = False
    apply_overrides(config, {**preset.overrides, **overrides})  # keys an algo lacks: skipped
    chunk = max(1, config.log_every // config.num_envs) * config.num_envs  # env steps per chunk
    if "eval_every" not in overrides:  # evaluations on chunk boundaries, so seeds share steps
        config.eval_every = chunk * max(1, round(budget / preset.evals_per_run / chunk))
    if "checkpoint_every" not in overrides:
        config.checkpoint_every = min(config.checkpoint_every, budget)
    validate(config)
    return config


def _resume_offsets(workdir: Path) -> list[tuple[int, float]]:
    """(step, seconds) per restart of a run logged before the wall clock survived resumes: where
    train.csv's wall_time falls, the run restarted at the step of the row before the fall (rows
    past the checkpoint were moved aside), whose wall_time is what the restart forgot."""
    path = workdir / "train.csv"
    if not path.exists():
        return []
    out, prev, total = [], None, 0.0
    with path.open() as f:
        for row in csv.DictReader(f):
            step, wall = int(float(row["env_steps"])), float(row.get("wall_time") or "nan")
            if prev is not None and wall < prev[1]:
                total += prev[1]
                out.append((prev[0], total))
            prev = (step, wall)
    return out


def read_eval_curve(workdir: Path) -> list[dict[str, float]]:
    """All evaluations of a run from its eval.csv (a resumed run's summary holds only the
    evaluations after the resume); a step evaluated twice keeps its last row. `wall_time_s` is
    the run's time to the evaluation, across restarts (`_resume_offsets` repairs old logs)."""
    path = workdir / "eval.csv"
    if not path.exists():
        return []
    offsets = _resume_offsets(workdir)
    by_step: dict[int, dict[str, float]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            step = int(float(row["env_steps"]))
            wall = float(row.get("wall_time") or "nan")
            wall += max((o for s, o in offsets if s < step), default=0.0)
            by_step[step] = {"env_steps": step,
                             "return_mean": float(row["eval/return_mean"]),
                             "return_std": float(row.get("eval/return_std") or "nan"),
                             "wall_time_s": wall}
    return [by_step[s] for s in sorted(by_step)]


def worker_run(spec: dict) -> dict:
    from mjxrsm.train import TrainingDivergedError, run

    preset = LearningPreset(**{**spec["preset"], "envs": tuple(spec["preset"]["envs"]),
                               "algos": tuple(spec["preset"]["algos"]),
                               "table_fractions": tuple(spec["preset"]["table_fractions"])})
    config = run_config(spec["env"], spec["algo"], spec["seed"], preset, spec["budget"],
                        spec["overrides"])
    workdir = Path(spec["workdir"])
    forking = bool(spec.get("fork_from")) and not has_run(workdir)
    if forking:  # a fork's first start: the base's state, then this run's settings
        from bench.fork import start_fork

        start_fork(Path(spec["fork_from"]), workdir)
    t0 = time.perf_counter()
    try:
        # Continue a cell or start it.
        summary = run(config, workdir, resume=has_run(workdir), allow_config_change=forking)
    except TrainingDivergedError as e:  # an outcome, not a failure: recorded, not retried
        summary = {"diverged": str(e), "final_eval_return": None,
                   "wall_time_s": time.perf_counter() - t0}
    from bench.fork import FORK_FILE

    fork = workdir / FORK_FILE
    return {"summary": summary, "curve": read_eval_curve(workdir),
            "config": config_to_dict(config), "wall_s_this_process": time.perf_counter() - t0,
            **({"forked_from": json.loads(fork.read_text())} if fork.is_file() else {})}


# ============================================================================= planning


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m bench.learning",
        description="Return vs env steps for dpmd/sdac/sac over seeds; one plot per env and a "
                    "table of final returns at fixed budgets.")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                   help="cpu: small tasks, small budgets; gpu: official settings, 1M steps")
    p.add_argument("--envs", help="comma-separated envs (default: preset's)")
    p.add_argument("--algos", help=f"comma-separated subset of {','.join(ALGOS)}")
    p.add_argument("--seeds", type=positive_int, help="seeds 0..N-1 (default: preset's)")
    p.add_argument("--first-seed", type=nonnegative_int, default=0, metavar="K",
                   help="seeds K..K+N-1 instead: two invocations (say, one per pinned core) run "
                        "different seeds of one --out without starting the same run twice")
    p.add_argument("--budget", type=positive_int, help="env steps per run after warm-up, every env")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every run (repeatable), e.g. algo.lr=1e-4")
    p.add_argument("--jobs", type=positive_int, help="runs at a time (default: preset's)")
    p.add_argument("--timeout", type=positive_float,
                   help="seconds per run; a run still going then gets SIGTERM, stops at its next "
                        "chunk with a checkpoint (it resumes with the same command) and is "
                        "recorded in OUT/stopped.json")
    p.add_argument("--until", type=clock_time, metavar="HH:MM",
                   help="a deadline for the whole invocation (local time, or an ISO date and "
                        "time): each run's timeout ends there at the latest, and a run that "
                        f"would have under {MIN_RUN_S // 60} min left is not started")
    p.add_argument("--host-note", default="",
                   help="how the machine was shared, kept with a run cut at --timeout (e.g. "
                        "'pinned, one run per core')")
    p.add_argument("--out", type=Path,
                   help="results directory (default: bench/results/learning-PRESET-DEVICE)")
    p.add_argument("--runs", type=Path,
                   help="run directories (default: runs/bench-learning/<out's name>)")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep the checkpoints of finished runs (default: delete them, they are "
                        "large, unless the preset keeps them: humanoid-ant, to evaluate and film)")
    p.add_argument("--no-compile-cache", action="store_true",
                   help="compile every run from scratch (default: a persistent JAX compilation "
                        "cache in the runs directory, shared by the seeds of a config)")
    p.add_argument("--fork-from", type=Path, metavar="RUN/checkpoints/STEP",
                   help="start the (single) run from another run's checkpoint, replay buffer "
                        "included, with this invocation's settings (say a --set lever): both "
                        "arms share everything up to STEP; compare them with bench.fork")
    p.add_argument("--report-only", action="store_true", help="only aggregate existing results")
    p.add_argument("--quick", action="store_true",
                   help="toy task, tiny nets (smoke test, not a benchmark); output under /tmp")
    return p.parse_args(argv)


def _csv(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


@dataclasses.dataclass
class Cell:
    env: str
    algo: str
    seed: int
    budget: int

    @property
    def name(self) -> str:
        return f"{self.env}-{self.algo}-s{self.seed}"


def make_cells(preset: LearningPreset, first_seed: int = 0,
               budget: int | None = None) -> list[Cell]:
    """The runs of `preset.seeds` seeds from `first_seed` on, seed-major: runs side by side are
    different configs, and a later seed finds its programs in the compilation cache (seeds
    change values, not the compiled programs)."""
    return [Cell(env, algo, seed, budget_for(preset, env, budget))
            for seed in range(first_seed, first_seed + preset.seeds)
            for env in preset.envs for algo in preset.algos]


def budget_for(preset: LearningPreset, env: str, override: int | None) -> int:
    if override:
        return override
    if env in preset.budgets:
        return preset.budgets[env]
    if "*" in preset.budgets:
        return preset.budgets["*"]
    from configs.train import get_config  # the env's own default budget

    return get_config(f"{env},sac,{preset.trainer_preset}").total_env_steps


def device_name() -> dict[str, Any]:
    """The device, read in a throwaway worker (the parent never initialises a backend)."""
    return run_worker("bench.throughput", {"kind": "info"}, 300).get(
        "device", {"platform": "unknown"})


# ============================================================================= running


def drop_unkept_checkpoints(directory: Path) -> None:
    """Delete a finished run's checkpoints, except those `keep_checkpoints_every` kept for good
    (marked with `KEPT`): those are the fork bases a later lever starts from."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if (entry / KEPT).is_file():
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if not any(directory.iterdir()):
        directory.rmdir()


MIN_RUN_S = 600  # with --until: a run with less time than this left is not started


def record_cut_run(into: Path, preset_name: str, host_note: str, workdir: Path,
                   timeout_s: float) -> None:
    """Record a run cut at its timeout in `into` (bench.stopped), so that what it reached is
    reported even if its run directory does not outlive the machine; a failure to record is a
    warning, never a lost run directory."""
    from bench.stopped import add_stopped, stopped_entry

    why = (f"cut at its time limit of {timeout_s:,.0f} s (bench.learning --timeout or --until); "
           "it resumes from its checkpoint with the same command")
    try:
        add_stopped(into, preset_name, [(workdir, stopped_entry(workdir, why, preset_name,
                                                                host_note))])
    except (ValueError, SystemExit) as e:  # SystemExit: bench.cli.fail, already printed
        log(f"warning: {workdir.name} was not recorded in {into}: {e}")


def run_cells(cells: list[Cell], preset: LearningPreset, overrides: dict, out: Path, runs: Path,
              jobs: int, keep_checkpoints: bool, compile_cache: Path | None,
              fork_from: Path | None = None,
              on_timeout: Callable[[Path, float], None] | None = None,
              until: float | None = None) -> None:
    """Run the cells not yet in `out/cells`, `jobs` at a time, each for at most the preset's
    timeout and not past `until` (epoch seconds); `on_timeout(workdir, timeout_s)` for each run
    cut at its timeout."""
    cell_dir = out / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    todo = []
    for cell in cells:
        path = cell_dir / f"{cell.name}.json"
        if path.exists():
            done = json.loads(path.read_text())
            expected = config_to_dict(run_config(cell.env, cell.algo, cell.seed, preset,
                                                 cell.budget, overrides))
            changed = [c for group in config_changes(done.get("config", {}), expected)
                       for c in group if c.split(":")[0] not in BOOKKEEPING]
            if changed:
                fail(f"{path} was run with a different config ({'; '.join(changed)}); use "
                     "another --out (and --runs) for these settings, or delete it to rerun")
            continue
        todo.append(cell)
    log(f"{len(cells) - len(todo)} of {len(cells)} runs already done; running {len(todo)} "
        f"({jobs} at a time); logs in each run's bench.log under {runs}")

    def one(cell: Cell) -> None:
        timeout = preset.timeout_s
        if until is not None:
            left = until - time.time()
            if left < MIN_RUN_S:
                log(f"not started {cell.name}: {max(left, 0) / 60:.0f} min left before --until")
                return
            timeout = min(timeout, left)
        workdir = runs / cell.name
        workdir.mkdir(parents=True, exist_ok=True)
        spec = {"kind": "run", "env": cell.env, "algo": cell.algo, "seed": cell.seed,
                "budget": cell.budget, "preset": dataclasses.asdict(preset),
                "overrides": overrides, "workdir": str(workdir),
                "fork_from": str(fork_from.resolve()) if fork_from else None}
        log(f"start {cell.name} ({cell.budget:,} env steps)")
        env: dict[str, str | None] = {}
        if compile_cache:
            env["JAX_COMPILATION_CACHE_DIR"] = str(compile_cache)
        if jobs > 1 and "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ:
            env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # runs share one GPU's memory
        res = run_worker(MODULE, spec, timeout, workdir / "bench.log", env)
        if "error" in res:
            log(f"FAILED {cell.name}: {res['error'][:300]}")
            if res.get("timed_out") and on_timeout is not None and has_run(workdir):
                on_timeout(workdir, timeout)
            return  # no cell JSON: the next invocation retries (and resumes) it
        res.update({"env": cell.env, "algo": cell.algo, "seed": cell.seed,
                    "budget": cell.budget, "workdir": str(workdir), "jobs": jobs,
                    "host": host_info()})  # runs of one directory may come from several machines
        write_json(cell_dir / f"{cell.name}.json", res)
        s = res["summary"]
        status = "DIVERGED" if s.get("diverged") else f"final return {fmt(s['final_eval_return'])}"
        log(f"done  {cell.name}: {status}, "
            f"{fmt(s['wall_time_s'] / 60)} min")
        if not keep_checkpoints:
            drop_unkept_checkpoints(workdir / "checkpoints")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, todo))


# ============================================================================= reporting


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def return_at(curve: list[dict], step: int, budget: int) -> float | None:
    """The last evaluation at or before `step`; the final evaluation (which may overshoot the
    budget by less than one chunk) counts as taken at the budget. None if there is none yet."""
    before = [e["return_mean"] for e in curve if min(e["env_steps"], budget) <= step]
    return before[-1] if before else None


FINAL_WINDOW = 0.2  # the last fifth of the budget: evaluations averaged for `final_window`


def final_window_mean(curve: list[dict], budget: int) -> float | None:
    """The mean of a run's evaluations in the last FINAL_WINDOW of its budget. Why: one
    evaluation (8 episodes) swings by 1.5k between neighbours on Hopper, whose gait holds for a
    whole episode or falls early; the end of a run is judged better by several."""
    start = (1 - FINAL_WINDOW) * budget
    window = [e["return_mean"] for e in curve if e["env_steps"] > start]
    return sum(window) / len(window) if window else None


def returns_at_budget(runs: list[dict], budget: int, fractions: tuple[float, ...],
                      reached: float | None = None) -> dict[str, Any]:
    """Mean and standard error over `runs` of the return at each fraction of `budget` and over
    the final window. `reached` (a stopped run's last step): fractions beyond it stay empty."""
    at: dict[str, Any] = {}
    for frac in fractions:
        b = round(frac * budget)
        vals = [] if reached is not None and reached < b else [
            v for v in (return_at(r["curve"], b, r["budget"]) for r in runs) if v is not None]
        m, se = mean_se(vals) if vals else (None, None)
        at[f"{frac:g}"] = {"env_steps": b, "mean": m, "se": se, "n": len(vals)}
    finals = [] if reached is not None and reached < budget else [
        v for v in (final_window_mean(r["curve"], r["budget"]) for r in runs) if v is not None]
    m, se = mean_se(finals) if finals else (None, None)
    at["final_window"] = {"fraction": FINAL_WINDOW, "mean": m, "se": se, "n": len(finals)}
    return at


def mean_curve(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard error of the runs' evaluation returns at the env steps every run
    evaluated, with the mean wall clock there (nan if a run lacks it)."""
    shared = [{e["env_steps"] for e in r["curve"]} for r in runs]
    curve = []
    for s in sorted(set.intersection(*shared)) if shared else []:
        points = [next(e for e in r["curve"] if e["env_steps"] == s) for r in runs]
        m, se = mean_se([e["return_mean"] for e in points])
        walls = [e.get("wall_time_s", math.nan) for e in points]
        curve.append({"env_steps": s, "mean": m, "se": se, "n": len(points),
                      "wall_time_s": sum(walls) / len(walls)})
    return curve


def aggregate(cell_results: list[dict], fractions: tuple[float, ...]) -> dict[str, Any]:
    """Per (env, algo): the mean and standard error curve over seeds at the evaluation steps
    all seeds share, and the return at each fixed budget. Runs stopped by the NaN guard are
    counted apart (`diverged_seeds`), not averaged in."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in cell_results:
        groups.setdefault((r["env"], r["algo"]), []).append(r)
    out: dict[str, Any] = {}
    for (env, algo), group in sorted(groups.items()):
        runs = [r for r in group if not r["summary"].get("diverged")]
        diverged = sorted(r["seed"] for r in group if r["summary"].get("diverged"))
        curve = mean_curve(runs)
        budget = max(r["budget"] for r in group)
        at = returns_at_budget(runs, budget, fractions)
        walls = [r["summary"]["wall_time_s"] for r in group]
        out[f"{env}/{algo}"] = {
            "env": env, "algo": algo, "seeds": sorted(r["seed"] for r in runs),
            "diverged_seeds": diverged, "budget": budget, "curve": curve,
            "return_at_budget": at, "mean_wall_time_s": sum(walls) / len(walls),
        }
    return out


def plot_env(env: str, agg: dict[str, Any], path: Path, title: str) -> None:
    """One env's algorithms (`aggregate`'s entries), each in its colour."""
    plot_curves([{"label": f"{a['algo']} (n={len(a['seeds'])})", "color": algo_color(a["algo"]),
                  "curve": a["curve"]} for a in agg.values() if a["env"] == env and a["curve"]],
                path, f"{env} — {title}")


def plot_curves(series: list[dict[str, Any]], path: Path, title: str,
                legend_below: bool = False, subtitle: str = "") -> None:
    """Mean ± standard error curves (`mean_curve`), each a dict with `label`, `color`, `curve`
    and optionally `linestyle`: against env steps (sample efficiency) on the left, against the
    runs' wall clock (mean over seeds, on the machine and load the results record) on the
    right. `legend_below`: for labels too long to sit inside the axes; `subtitle`: a line
    above both panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    legend_h = 0.15 * (len(series) + 1) if legend_below else 0.0  # inches under the axes
    top_h = 0.3 if subtitle else 0.0
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(11, 4 + legend_h + top_h), sharey=True)
    if subtitle:
        fig.suptitle(subtitle, fontsize=9)
    for line in series:
        pts = line["curve"]
        x = [p["env_steps"] for p in pts]
        t = [p.get("wall_time_s", math.nan) / 60 for p in pts]
        m = [p["mean"] for p in pts]
        se = [0.0 if math.isnan(p["se"]) else p["se"] for p in pts]
        lo = [u - s for u, s in zip(m, se, strict=True)]
        hi = [u + s for u, s in zip(m, se, strict=True)]
        style = {"color": line["color"], "linestyle": line.get("linestyle", "-")}
        ax.plot(x, m, marker="o", ms=3, label=line["label"], **style)
        ax.fill_between(x, lo, hi, color=line["color"], alpha=0.2, linewidth=0)
        if not any(math.isnan(v) for v in t):
            ax_t.plot(t, m, marker="o", ms=3, **style)
            ax_t.fill_between(t, lo, hi, color=line["color"], alpha=0.2, linewidth=0)
    ax.set(xlabel="env steps (after warm-up)", ylabel="evaluation return (mean ± s.e.)",
           title=title)
    ax_t.set(xlabel="wall clock (min, mean over seeds)", title="against wall clock")
    for a_ in (ax, ax_t):
        a_.grid(True, alpha=0.3)
    if legend_below:
        fig.legend(loc="lower left", fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, legend_h / (4 + legend_h + top_h), 1, 1))
    else:
        ax.legend(fontsize=8)
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def beyond_preset(r: dict[str, Any], preset: LearningPreset) -> dict[str, Any]:
    """The settings of run `r` that differ from what the bench preset gives its cell today: its
    `--set` overrides, or preset values changed since it ran (bookkeeping keys left out). The
    settings `run_config` derives (eval_every from num_envs, ...) count only where they differ
    from what it derives from the others. A key added to the config after the run was recorded
    reads as the value that reproduces what the run did (`ABSENT_MEANS`), not as "whatever the
    preset says today": a run from before DPMD's critic had its own width is a 2x128 one."""
    ran = {**ABSENT_MEANS, **flat_items(r.get("config", {}))}

    def differing(overrides: dict[str, Any]) -> dict[str, Any]:
        expected = flat_items(config_to_dict(run_config(r["env"], r["algo"], r["seed"], preset,
                                                        r["budget"], overrides)))
        return {k: v for k, v in ran.items()
                if k not in BOOKKEEPING and k in expected and not same_setting(v, expected[k])}

    first = differing({})
    derived = {k: v for k, v in first.items() if k not in ("eval_every", "checkpoint_every")}
    return {**derived, **differing(derived)}


def split_overrides(report: dict[str, Any]) -> tuple[dict, dict[tuple[str, str], dict]]:
    """The settings beyond the preset that every run shares (for the header), and per
    (env, algo) the ones beyond those: cells from separate invocations into one --out may
    differ."""
    runs = report.get("runs", [])
    per_run = [r["beyond_preset"] for r in runs]
    common = {k: v for k, v in per_run[0].items()
              if all(k in o and same_setting(o[k], v) for o in per_run)} if per_run else {}
    extra: dict[tuple[str, str], dict] = {}
    for r, o in zip(runs, per_run, strict=True):
        extra.setdefault((r["env"], r["algo"]), {}).update(
            {k: v for k, v in o.items() if k not in common})
    return common, extra


def run_hosts(runs: list[dict[str, Any]]) -> str:
    """Which machines the runs ran on, with counts: min/run is only comparable on one machine,
    and cells recorded before hosts were kept say so."""
    counts: dict[str, int] = {}
    for r in runs:
        host = r.get("host") or {}
        name = (f"{host['cpu_model']} ({host.get('cpu_usable')} cores usable)"
                if host.get("cpu_model") else "not recorded")
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name}: {n} run{'s' * (n > 1)}" for name, n in sorted(counts.items()))


def markdown(report: dict[str, Any]) -> str:
    agg = report["aggregates"]
    hw = report.get("hardware") or {}
    dev = hw.get("device") or {}
    common, extra = split_overrides(report)
    lines = [f"# Learning — {report['preset']} preset — {dev.get('device_kind', '?')} — "
             f"{report.get('date', '')[:10]}", "",
             f"Evaluation return (mean ± standard error over seeds; each evaluation is the mean "
             f"of the run's `eval_episodes` episodes) at fixed budgets of env steps after the "
             f"random warm-up. Trainer preset `{report['trainer_preset']}`"
             + (f"; settings beyond it in every run: {common}" if common else "") + ". "
             f"Runs on: {run_hosts(report.get('runs', []))}. Report written on "
             f"{hw.get('cpu_model')} ({hw.get('cpu_usable')} cores); jax "
             f"{(report.get('versions') or {}).get('jax')}; commit "
             f"{str((report.get('git') or {}).get('commit'))[:10]}.", ""]
    if report.get("quick"):
        lines += ["**--quick smoke run: toy task, tiny nets; not a benchmark.**", ""]
    fractions = report["settings"]["table_fractions"]
    rows = []
    for a in agg.values():
        seeds = f"{len(a['seeds'])}" + (f" (+{len(a['diverged_seeds'])} diverged)"
                                         if a["diverged_seeds"] else "")
        row: list[Any] = [a["env"], a["algo"], seeds, a["budget"]]
        for key in [f"{frac:g}" for frac in fractions] + ["final_window"]:
            v = a["return_at_budget"].get(key)
            if not v or v["mean"] is None:
                row.append("-")
            elif v["n"] < 2:
                row.append(f"{fmt(v['mean'])} (n={v['n']})")
            else:
                row.append(f"{fmt(v['mean'])} ± {fmt(v['se'])}")
        row.append(a["mean_wall_time_s"] / 60)
        if any(extra.values()):
            row.append(", ".join(f"{k}={v}" for k, v in extra[(a["env"], a["algo"])].items()))
        rows.append(row)
    for env in report["envs"]:  # the published band under each env's rows
        bands = PUBLISHED_SAC.get(env)
        budgets = [a["budget"] for a in agg.values() if a["env"] == env]
        if not bands or not budgets:
            continue
        row = [env, "published SAC", "10", budgets[0]]
        for frac in fractions:
            band = bands.get(round(frac * budgets[0]))
            row.append(fmt_band(band))
        last = max(i for i, r in enumerate(rows) if r[0] == env)
        rows.insert(last + 1, [*row, "-", "-"] + (["-"] if any(extra.values()) else []))
    window = f"mean of evals in the last {100 * FINAL_WINDOW:g}%"
    lines.append(md_table(["env", "algo", "seeds", "budget",
                           *(f"@{100 * f:g}% of budget" for f in fractions), window, "min/run"]
                          + (["its other settings beyond the preset"] if any(extra.values())
                             else []),
                          rows))
    lines += ["", "Plots: " + ", ".join(f"`{e}.png`" for e in report["envs"]), ""]
    return "\n".join(lines)


def report(out: Path, preset_name: str, preset: LearningPreset, overrides: dict,
           device: dict | None, quick: bool, cells: list[Cell] | None) -> dict:
    """Aggregate the cell JSONs in `out/cells` (those of `cells`, or all) into JSON, MD, PNGs.

    Under a lock on the directory: invocations sharing `out` that end together rebuild it one
    after the other, so the last one has read every cell the others wrote."""
    with exclusive(out / LOCK_NAME):
        return _report(out, preset_name, preset, overrides, device, quick, cells)


def _report(out: Path, preset_name: str, preset: LearningPreset, overrides: dict,
            device: dict | None, quick: bool, cells: list[Cell] | None) -> dict:
    wanted = None if cells is None else {c.name for c in cells}
    results = []
    for path in sorted((out / "cells").glob("*.json")):
        if wanted is None or path.stem in wanted:
            r = json.loads(path.read_text())
            workdir = Path(r.get("workdir", "/nonexistent"))
            if r["curve"] and "wall_time_s" not in r["curve"][0] and workdir.is_dir():
                r["curve"] = read_eval_curve(workdir)  # recorded before curves had wall time
                s = r["summary"]  # a resumed run's summary counted only its last process
                s["wall_time_s"] = max(s["wall_time_s"], r["curve"][-1]["wall_time_s"])
                write_json(path, r)
            results.append(r)
    agg = aggregate(results, preset.table_fractions)
    envs = sorted({r["env"] for r in results})
    rep = {
        "benchmark": "learning", "preset": preset_name, "quick": quick,
        "trainer_preset": preset.trainer_preset, "overrides": overrides,
        "settings": dataclasses.asdict(preset), "envs": envs,
        **provenance(device), "aggregates": agg,
        "runs": [{k: r[k] for k in ("env", "algo", "seed", "budget", "curve", "config")}
                 | {"beyond_preset": beyond_preset(r, preset), "host": r.get("host"),
                    "summary": {k: v for k, v in r["summary"].items() if k != "evals"}}
                 for r in results],
    }
    write_json(out / "learning.json", rep)
    (out / "learning.md").write_text(markdown(rep))
    title = f"{preset.trainer_preset} preset" + (" (quick)" if quick else "")
    for env in envs:
        plot_env(env, agg, out / f"{env}.png", title)
    return rep


def parse_set(items: list[str], preset: LearningPreset) -> dict[str, Any]:
    """--set KEY=VALUE, each value read against the first algorithm of the grid that has the key,
    by the parser the training CLI reads --config.<key>=<value> with."""
    from configs.train import get_config

    configs = [get_config(f"{preset.envs[0]},{algo},{preset.trainer_preset}")
               for algo in preset.algos]
    try:
        return parse_assignments(items, configs)
    except OverrideError as e:
        fail(str(e))


def check_fork(checkpoint: Path, cells: list[Cell], runs: Path) -> None:
    """Refuse a fork whose grid is not one run of the base's task, algorithm and seed. A fork
    already started resumes like any run (its base checkpoint may since have been deleted)."""
    from bench.fork import fork_base

    if len(cells) == 1 and has_run(runs / cells[0].name):
        return
    run, _ = fork_base(checkpoint)
    base = json.loads((run / CONFIG_FILE).read_text())
    base_cell = (base["env"]["name"], base["algo"]["name"], base["seed"])
    if [(c.env, c.algo, c.seed) for c in cells] != [base_cell]:
        fail(f"--fork-from: the base is {base_cell[0]} {base_cell[1]} seed {base_cell[2]}; "
             f"choose --envs, --algos, --first-seed and --seeds 1 so that the grid is that one "
             f"run (it is {len(cells)} run(s))")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker_main(argv[1:], {"run": worker_run})
        return
    args = parse_args(argv)
    base = QUICK if args.quick else PRESETS[args.preset]
    preset = dataclasses.replace(
        base, envs=_csv(args.envs) or base.envs, algos=_csv(args.algos) or base.algos,
        seeds=args.seeds or base.seeds, jobs=args.jobs or base.jobs,
        timeout_s=args.timeout or base.timeout_s)
    bad = sorted(set(preset.algos) - set(ALGOS))
    if bad:
        fail(f"--algos: unknown algorithm(s) {bad}; choose from {list(ALGOS)}")
    check_envs(preset.envs)
    overrides = parse_set(args.set, preset)
    preset_name = "quick" if args.quick else args.preset

    cells = make_cells(preset, args.first_seed, args.budget)
    # Fail fast on a bad env, key or value, before any process starts.
    used: set[str] = set()
    for cell in {(c.env, c.algo): c for c in cells}.values():
        try:
            config = run_config(cell.env, cell.algo, 0, preset, cell.budget, overrides)
        except (ValueError, KeyError, TypeError) as e:
            fail(f"{cell.env},{cell.algo}: {e}")
        used |= {k for k in overrides if has_key(config, k)}
    if set(overrides) - used:
        fail(f"--set: no algorithm has the key(s) {sorted(set(overrides) - used)}")

    device = device_name()
    out = args.out or (Path(tempfile.gettempdir()) / "mjxrsm-learning-quick" if args.quick
                       else RESULTS / "learning" / f"learning-{preset_name}-{device_slug(device)}")
    runs = args.runs or ROOT / "runs" / "bench-learning" / out.name
    if args.fork_from:
        check_fork(args.fork_from, cells, runs)
    log(f"{len(cells)} runs: envs {preset.envs}, algos {preset.algos}, {preset.seeds} seeds; "
        f"results -> {out}")
    if not args.report_only:
        cache = None if args.no_compile_cache else runs / ".jax-compilation-cache"
        on_timeout = None if args.quick else functools.partial(
            record_cut_run, out / "stopped.json", preset_name, args.host_note)
        run_cells(cells, preset, overrides, out, runs, preset.jobs,
                  args.keep_checkpoints or preset.keep_checkpoints, cache, args.fork_from,
                  on_timeout, args.until)
    # Every finished cell in `out`, not only this invocation's: running one env or algo at a
    # time (or resuming one cell) still leaves the whole table, and every plot, up to date.
    rep = report(out, preset_name, preset, overrides, device, args.quick, None)
    log(f"wrote {out / 'learning.json'}, {out / 'learning.md'} and {len(rep['envs'])} plot(s)")
    print(markdown(rep))


if __name__ == "__main__":
    main()
