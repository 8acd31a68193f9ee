"""Throughput benchmark: steady-state env-steps/s and updates/s of the fused trainer, side by side
with two yardsticks measured in the same script run, plus the official-settings update rate and a
per-update cost breakdown.

    python -m bench.throughput                          # profile by device (CPU: ~8.5 min)
    python -m bench.throughput --device-profile gpu     # num_envs up to 8192, ant/humanoid, sweeps
    python -m bench.throughput --envs hopper --algos dpmd --num-envs 16,64 --set algo.lr=1e-4
    python -m bench.throughput --quick --out /tmp/bench-smoke   # smoke test, ~5-8 min on CPU

What is measured (each in its own subprocess: clean compile, clean peak memory):
  grid cells   ALGO x ENV x num_envs with the profile's preset: `train_chunk` compiled ahead of
               time (compile time), then called until the steady-state budget is spent.
  sweeps       one knob at a time (particles, diffusion steps, SDAC candidates, UTD) around one
               reference (env, num_envs).
  yardsticks   (a) the physics limit: a jitted lax.scan of the vmapped, wrapped MJX env with
               uniform random actions (GPU profile: also the raw env, without the wrapper);
               (b) Brax's own SAC trainer at the same num_envs, batch size, updates per vector
               step and network widths.
  official     HalfCheetah at the official settings (paper preset: 5 envs, batch 256, 32
               particles, 20 diffusion steps, UTD 0.2): updates/s of the full train loop and of
               `agent.update` alone, as ratios to the official implementation's figures.
  breakdown    the parts of one update timed separately (bench/breakdown.py).

The buffer is pre-filled with random transitions instead of running the random warm-up: the cost
of an update does not depend on the data, and the warm-up's separate MJX compile would add a
minute per cell on CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cli import ArgumentParser, check_envs, fail, positive_float, positive_int
from bench.common import (
    RESULTS,
    Timing,
    device_slug,
    log,
    provenance,
    run_worker,
    today,
    worker_main,
    write_json,
)
from bench.measure import (
    OFFICIAL_ENV,
    build_config,
    worker_breakdown,
    worker_official,
    worker_trainer,
)
from bench.throughput_report import (
    OFFICIAL_UPDATES_PER_S,
    REQUIRED_SPEEDUP,
    add_ratios,
    markdown,
    plot,
)
from bench.yardsticks import worker_brax_sac, worker_physics
from mjxrsm.config.algorithms import algorithm_names
from mjxrsm.config.overrides import (
    OverrideError,
    get_key,
    has_key,
    parse_assignments,
    parse_sweeps,
)

MODULE = "bench.throughput"
ALGOS = tuple(algorithm_names())  # every registered algorithm (mjxrsm/config/algorithms.py)
# Compile times are figures here: a persistent compilation cache set by the user must not apply.
NO_COMPILE_CACHE = {"JAX_COMPILATION_CACHE_DIR": None}
SKIPPABLE = ("official", "breakdown", "physics", "brax", "sweeps", "grid")


@dataclasses.dataclass(frozen=True)
class Profile:
    """Defaults of one device profile; every field has a CLI override."""

    envs: tuple[str, ...]
    algos: tuple[str, ...]
    num_envs: tuple[int, ...]
    preset: str
    chunk_iters: int  # vector steps per timed `train_chunk` call (rounded to the UTD period)
    timing: Timing
    official_chunk_iters: int
    official_timing: Timing
    breakdown_reps: int  # iterations per timed scan of one update part
    breakdown_timing: Timing
    grid_breakdown: bool  # also break down the grid preset's update (not only the official one)
    physics_raw: bool  # also time the raw env without the training wrapper (its overhead)
    brax_epochs: int  # Brax SAC epochs of `chunk_iters` vector steps; the first compiles
    sweeps: dict[str, list[Any]]
    sweep_at: tuple[str, int]  # (env, num_envs) the sweeps vary around
    timeout_s: float  # per worker process


PROFILES = {
    "cpu": Profile(
        # The grid uses the cheapest MJX task: on 2 cores MJX compilation dominates the budget
        # (HalfCheetah is measured at the official settings anyway).
        # 4 vector steps per timed chunk: at the cpu preset's UTD 1 that is already 64 / 512
        # updates per call, and the whole CPU run stays under 10 minutes.
        envs=("inverted_pendulum",), algos=ALGOS, num_envs=(16, 128), preset="cpu",
        chunk_iters=4,
        timing=Timing(min_time=2.0, min_reps=2, max_reps=30), official_chunk_iters=4,
        official_timing=Timing(min_time=4.0, min_reps=2, max_reps=30), breakdown_reps=2,
        breakdown_timing=Timing(min_time=1.5, min_reps=2, max_reps=20), grid_breakdown=False,
        physics_raw=False, brax_epochs=6, sweeps={}, sweep_at=("inverted_pendulum", 16),
        timeout_s=1200,
    ),
    "gpu": Profile(
        envs=("halfcheetah", "ant", "humanoid"), algos=ALGOS, num_envs=(128, 1024, 8192),
        preset="parallel", chunk_iters=32, timing=Timing(min_time=5.0, min_reps=3, max_reps=100),
        official_chunk_iters=200, official_timing=Timing(min_time=10.0, min_reps=3, max_reps=50),
        breakdown_reps=20, breakdown_timing=Timing(min_time=3.0, min_reps=3, max_reps=50),
        grid_breakdown=True, physics_raw=True, brax_epochs=5,
        sweeps={  # the preset's own value (32, 20, 64, 1/128) reuses the grid cell
            "algo.num_particles": [8, 16, 32, 64],
            "algo.diffusion_steps": [5, 10, 20],
            "algo.num_candidates": [16, 32, 64, 128],
            "utd_ratio": [1 / 512, 1 / 128, 1 / 32],
        },
        sweep_at=("humanoid", 1024), timeout_s=2400,
    ),
}

# --quick: the smallest settings that still exercise every code path (smoke tests only).
QUICK_OVERRIDES = {"algo.hidden": (32, 32), "algo.batch_size": 32, "algo.num_particles": 4,
                   "algo.diffusion_steps": 4, "algo.num_candidates": 8, "replay_capacity": 4096,
                   "start_steps": 512}
QUICK_PROFILE = Profile(
    envs=("inverted_pendulum",), algos=ALGOS, num_envs=(4,), preset="cpu", chunk_iters=4,
    timing=Timing(0.3, 2, 5), official_chunk_iters=2, official_timing=Timing(0.3, 1, 3),
    breakdown_reps=2, breakdown_timing=Timing(0.2, 1, 3), grid_breakdown=False,
    physics_raw=True, brax_epochs=3, sweeps={"algo.num_particles": [2]},
    sweep_at=("inverted_pendulum", 4), timeout_s=900,
)


# ============================================================================= workers


def worker_info(spec: dict) -> dict:
    from bench.common import device_info

    return {"device": device_info()}


HANDLERS = {
    "info": worker_info,
    "trainer": worker_trainer,
    "official": worker_official,
    "breakdown": worker_breakdown,
    "physics": worker_physics,
    "brax_sac": worker_brax_sac,
}


# ============================================================================= planning


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m bench.throughput",
        description="Steady-state throughput of the fused trainer vs the physics limit and "
                    "Brax SAC; official-settings update rates; per-update cost breakdown.",
    )
    p.add_argument("--device-profile", choices=("auto", *sorted(PROFILES)), default="auto",
                   help="defaults for the grid, timing and sweeps (default auto: gpu on a GPU, "
                        "else cpu)")
    p.add_argument("--envs", help="comma-separated envs (default: profile's)")
    p.add_argument("--algos", help=f"comma-separated subset of {','.join(ALGOS)}")
    p.add_argument("--num-envs", help="comma-separated num_envs values (default: profile's)")
    p.add_argument("--preset", choices=("paper", "parallel", "cpu"),
                   help="config preset of the grid cells (default: profile's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for grid, sweeps and yardsticks, e.g. algo.lr=1e-4, "
                        "utd_ratio=1/64; keys an algorithm lacks are skipped (repeatable)")
    p.add_argument("--sweep", action="append", default=None, metavar="KEY=V1,V2",
                   help="one-at-a-time knob sweep around --sweep-at (repeatable; replaces the "
                        "profile's sweeps; --sweep none disables them)")
    p.add_argument("--sweep-at", metavar="ENV:NUM_ENVS", help="reference cell of the sweeps")
    p.add_argument("--chunk-iters", type=positive_int, help="vector steps per timed chunk")
    p.add_argument("--min-time", type=positive_float, help="steady-state seconds per measurement")
    p.add_argument("--skip", default="", help=f"comma-separated parts to skip: {SKIPPABLE}")
    p.add_argument("--timeout", type=positive_float, help="seconds per worker process")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke-test settings (not a benchmark); output defaults to /tmp")
    p.add_argument("--out", type=Path, help="output directory (default: bench/results)")
    return p.parse_args(argv)


def _csv(text: str | None, cast=str) -> tuple | None:
    return None if text is None else tuple(cast(x.strip()) for x in text.split(",") if x.strip())


@dataclasses.dataclass
class Plan:
    profile: Profile
    overrides: dict[str, Any]
    sweeps: dict[str, list[Any]]
    skip: set[str]
    out: Path
    quick: bool
    device: dict[str, Any]


def _num_envs(text: str | None) -> tuple[int, ...] | None:
    """--num-envs=64,256: positive integers, refused with one line otherwise."""
    try:
        values = _csv(text, int)
    except ValueError:
        fail(f"--num-envs={text}: expected comma-separated integers >= 1")
    if values and min(values) < 1:
        fail(f"--num-envs={text}: every value must be >= 1")
    return values


def make_plan(args: argparse.Namespace, device: dict[str, Any]) -> Plan:
    name = args.device_profile
    if name == "auto":
        name = "gpu" if device.get("platform") == "gpu" else "cpu"
    base = QUICK_PROFILE if args.quick else PROFILES[name]
    sweep_at = base.sweep_at
    if args.sweep_at:
        env, _, n = args.sweep_at.partition(":")
        if not n.isdigit() or int(n) < 1:
            fail(f"--sweep-at={args.sweep_at}: expected ENV:NUM_ENVS with NUM_ENVS >= 1")
        sweep_at = (env, int(n))
    timing = base.timing
    if args.min_time is not None:
        timing = dataclasses.replace(timing, min_time=args.min_time)
    profile = dataclasses.replace(
        base,
        envs=_csv(args.envs) or base.envs,
        algos=_csv(args.algos) or base.algos,
        num_envs=_num_envs(args.num_envs) or base.num_envs,
        preset=args.preset or base.preset,
        chunk_iters=args.chunk_iters or base.chunk_iters,
        timing=timing,
        sweep_at=sweep_at,
        timeout_s=args.timeout or base.timeout_s,
    )
    bad = sorted(set(profile.algos) - set(ALGOS))
    if bad:
        fail(f"--algos: unknown algorithm(s) {bad}; choose from {list(ALGOS)}")
    check_envs(profile.envs)
    check_envs((sweep_at[0],), "--sweep-at")
    skip = set(_csv(args.skip) or ())
    if skip - set(SKIPPABLE):
        fail(f"--skip takes {SKIPPABLE}, got {sorted(skip - set(SKIPPABLE))}")
    configs = _grid_configs(profile)
    try:  # read against the grid's configs, by the parser the training CLI uses
        if args.sweep is None:
            sweeps = dict(base.sweeps)
        elif args.sweep == ["none"]:
            sweeps = {}
        else:
            sweeps = parse_sweeps(args.sweep, configs)
        user = parse_assignments(args.set, configs)
    except OverrideError as e:
        fail(str(e))
    _check_keys(user, configs, "--set")
    _check_keys(sweeps, configs, "--sweep")
    overrides = {**(QUICK_OVERRIDES if args.quick else {}), **user}
    out = args.out or (Path(tempfile.gettempdir()) / "mjxrsm-bench-quick" if args.quick
                       else RESULTS / "throughput")
    return Plan(profile, overrides, sweeps, skip, out, args.quick, device)


def _grid_configs(profile: Profile) -> list:
    """One config per algorithm of the grid (what --set and --sweep values are read against)."""
    from configs.train import get_config

    env = profile.envs[0] if profile.envs else profile.sweep_at[0]
    return [get_config(f"{env},{a},{profile.preset}") for a in profile.algos]


def _check_keys(keys, configs: list, flag: str) -> None:
    """Every overridden key must exist for at least one algorithm of the grid."""
    unknown = sorted(k for k in keys if not any(has_key(c, k) for c in configs))
    if unknown:
        fail(f"{flag}: no algorithm's config has {unknown}")


def _check_config(env: str, algo: str, preset: str, overrides: dict) -> str | None:
    """Why this cell cannot run (invalid config, e.g. a UTD that does not divide), or None."""
    try:
        from mjxrsm.config.check import validate
        from mjxrsm.core.trainer import UpdateSchedule

        config, _ = build_config(env, algo, preset, overrides)
        validate(config)
        UpdateSchedule.from_ratio(config.utd_ratio, config.num_envs)
    except (ValueError, KeyError, TypeError) as e:
        return str(e)
    return None


def is_brax_env(env: str) -> bool:
    from mjxrsm.envs import brax_mjx

    return env in brax_mjx.TASKS


# ============================================================================= running


class Runner:
    """Runs the plan's workers one after another and saves the results after each."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.logs = Path(tempfile.mkdtemp(prefix="mjxrsm-bench-logs-"))
        self.results: dict[str, Any] = {
            "benchmark": "throughput", "quick": plan.quick,
            "profile": dataclasses.asdict(plan.profile), "overrides": plan.overrides,
            "sweeps": plan.sweeps, "skipped_parts": sorted(plan.skip),
            "official_reference": {"env": OFFICIAL_ENV, "updates_per_s": OFFICIAL_UPDATES_PER_S,
                                   "required_speedup": REQUIRED_SPEEDUP},
            "yardsticks": [], "cells": [], "sweep_cells": [], "official": [], "breakdowns": [],
        }
        self.json_path: Path | None = None
        self.t0 = time.perf_counter()

    def run(self, spec: dict, label: str) -> dict:
        log(f"{label} ...")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
        res = run_worker(MODULE, spec, self.plan.profile.timeout_s, self.logs / f"{safe}.log",
                         env_updates=NO_COMPILE_CACHE)
        if "error" in res:
            log(f"  FAILED: {res['error'][:300]}")
        else:
            log(f"  done in {res.get('worker_wall_s', 0):.0f} s{_headline(res)}")
        return res

    def save(self) -> None:
        if self.json_path is not None:
            self.results["elapsed_s"] = time.perf_counter() - self.t0
            write_json(self.json_path, self.results)

    def execute(self) -> dict[str, Any]:
        plan, prof = self.plan, self.plan.profile
        device = plan.device
        self.results.update(provenance(device))
        stem = f"throughput-{device_slug(device)}-{today()}"
        self.json_path = plan.out / f"{stem}.json"
        log(f"device: {device.get('device_kind')}; results -> {self.json_path}; "
            f"worker logs in {self.logs}")
        timing = dataclasses.asdict(prof.timing)

        if "official" not in plan.skip:
            for algo in prof.algos:
                spec = {"kind": "official", "algo": algo,
                        "overrides": plan.overrides if plan.quick else {},
                        "chunk_iters": prof.official_chunk_iters,
                        "timing": dataclasses.asdict(prof.official_timing),
                        "breakdown_timing": dataclasses.asdict(prof.breakdown_timing),
                        "reps": prof.breakdown_reps}
                what = "paper preset + --quick overrides" if plan.quick else "paper settings"
                res = self.run(spec, f"official {OFFICIAL_ENV} {algo} ({what})")
                self.results["official"].append({"algo": algo, **res})
                self.save()

        cells = [] if "grid" in plan.skip else [
            (env, n) for env in prof.envs for n in prof.num_envs]
        sweep_env, sweep_n = prof.sweep_at
        if plan.sweeps and "sweeps" not in plan.skip and (sweep_env, sweep_n) not in cells:
            cells.append((sweep_env, sweep_n))  # the sweeps' base cell and yardsticks
        for env, n in cells:
            over = {**plan.overrides, "num_envs": n}
            common = {"env": env, "num_envs": n, "preset": prof.preset,
                      "chunk_iters": prof.chunk_iters, "timing": timing}
            if "physics" not in plan.skip:
                from configs.train import get_config

                ep_len = get_config(f"{env},sac,{prof.preset}").env.episode_length
                spec = {"kind": "physics", **common, "episode_length": ep_len,
                        "raw": prof.physics_raw}
                res = self.run(spec, f"physics limit {env} x{n}")
                self.results["yardsticks"].append({"kind": "physics", **common, **res})
            if "brax" not in plan.skip and is_brax_env(env):
                why = _check_config(env, "sac", prof.preset, over)
                spec = {"kind": "brax_sac", **common, "overrides": over,
                        "epochs": prof.brax_epochs}
                res = {"error": why} if why else self.run(spec, f"brax SAC {env} x{n}")
                self.results["yardsticks"].append({"kind": "brax_sac", **common, **res})
            self.save()
            for algo in prof.algos:
                self._cell(self.results["cells"], env, algo, n, over, {})

        if plan.sweeps and "sweeps" not in plan.skip:
            for key, values in plan.sweeps.items():
                for algo in prof.algos:
                    self._sweep(sweep_env, sweep_n, algo, key, values)

        if "breakdown" not in plan.skip and prof.grid_breakdown and prof.envs:
            env, n = prof.envs[0], prof.num_envs[0]
            for algo in prof.algos:
                over = {**plan.overrides, "num_envs": n}
                spec = {"kind": "breakdown", "env": env, "algo": algo, "preset": prof.preset,
                        "overrides": over, "reps": prof.breakdown_reps,
                        "timing": dataclasses.asdict(prof.breakdown_timing)}
                res = self.run(spec, f"breakdown {env} {algo} ({prof.preset} preset)")
                self.results["breakdowns"].append(
                    {"env": env, "algo": algo, "preset": prof.preset, "num_envs": n, **res})
                self.save()
        self.save()
        return self.results

    def _sweep(self, env: str, n: int, algo: str, key: str, values: list) -> None:
        """One knob of one algorithm; the value the base cell already has is not run again."""
        base_over = {**self.plan.overrides, "num_envs": n}
        base_config, _ = build_config(env, algo, self.plan.profile.preset, base_over)
        if not has_key(base_config, key):
            return
        base = next((c for c in self.results["cells"] if "error" not in c and not c["sweep"]
                     and (c["env"], c["algo"], c["num_envs"]) == (env, algo, n)), None)
        for v in values:
            if base is not None and get_key(base_config, key) == v:
                self.results["sweep_cells"].append({**base, "sweep": {key: v}, "is_base": True})
                continue
            self._cell(self.results["sweep_cells"], env, algo, n, {**base_over, key: v},
                       {key: v})

    def _cell(self, bucket: list, env: str, algo: str, n: int, over: dict, sweep: dict) -> None:
        prof = self.plan.profile
        entry = {"env": env, "algo": algo, "num_envs": n, "preset": prof.preset, "sweep": sweep}
        why = _check_config(env, algo, prof.preset, over)
        if why:
            log(f"skip {env} {algo} x{n} {sweep}: {why}")
            bucket.append({**entry, "error": f"invalid config: {why}"})
            return
        spec = {"kind": "trainer", "env": env, "algo": algo, "preset": prof.preset,
                "overrides": over, "chunk_iters": prof.chunk_iters,
                "timing": dataclasses.asdict(prof.timing)}
        label = f"{algo} {env} x{n}" + "".join(f" {k}={v:g}" if isinstance(v, float)
                                               else f" {k}={v}" for k, v in sweep.items())
        bucket.append({**entry, **self.run(spec, label)})
        self.save()


def _headline(res: dict) -> str:
    if "env_steps_per_s" in res:
        ups = res.get("updates_per_s")
        return (f": {res['env_steps_per_s']:,.0f} env-steps/s"
                + (f", {ups:,.1f} updates/s" if ups is not None else ""))
    if "wrapped" in res:
        return f": {res['wrapped']['env_steps_per_s']:,.0f} env-steps/s (wrapped)"
    if "loop" in res:
        upd = res["breakdown"]["update"]["updates_per_s"]
        return f": loop {res['loop']['updates_per_s']:.2f} updates/s, update alone {upd:.2f}/s"
    return ""


# ============================================================================= reporting


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker_main(argv[1:], HANDLERS)
        return
    args = parse_args(argv)
    device = run_worker(MODULE, {"kind": "info"}, 300, env_updates=NO_COMPILE_CACHE).get(
        "device", {"platform": "unknown"})  # read in a worker: the parent never touches it
    plan = make_plan(args, device)
    runner = Runner(plan)
    results = runner.execute()
    add_ratios(results)
    runner.save()
    stem = runner.json_path.with_suffix("")
    stem.with_suffix(".md").write_text(markdown(results))
    plot(results, stem.with_suffix(".png"))
    log(f"wrote {runner.json_path}, {stem.with_suffix('.md')}, {stem.with_suffix('.png')}")
    print(markdown(results))


if __name__ == "__main__":
    main()
