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
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    Timing,
    apply_overrides,
    config_to_dict,
    device_slug,
    fmt,
    log,
    md_table,
    parse_assignments,
    parse_sweeps,
    process_usage,
    provenance,
    run_worker,
    today,
    worker_main,
    write_json,
)

MODULE = "bench.throughput"
ALGOS = ("dpmd", "sdac", "sac")
# The official implementation on a 2-core CPU machine of this kind, at its own settings
# (HalfCheetah, batch 256, 32 particles, 20 diffusion steps, UTD 0.2, 5 CPU envs): updates/s.
OFFICIAL_ENV = "halfcheetah"
OFFICIAL_UPDATES_PER_S = {"dpmd": 1.88, "sdac": 0.75, "sac": 58.8}
REQUIRED_SPEEDUP = {"dpmd": 3.0, "sdac": 10.0}  # at identical math and settings, on that CPU
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
        preset="fast", chunk_iters=32, timing=Timing(min_time=5.0, min_reps=3, max_reps=100),
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


def build_config(env: str, algo: str, preset: str, overrides: dict[str, Any]):
    """get_config('ENV,ALGO,PRESET') + overrides (keys the algorithm lacks are skipped)."""
    from configs.train import get_config

    config = get_config(f"{env},{algo},{preset}")
    applied = apply_overrides(config, overrides)
    config.tensorboard = False
    return config, applied


def _schedule_aligned(config, chunk_iters: int) -> int:
    """Round the chunk length up to whole UTD periods, so every chunk does the same updates."""
    from mjxrsm.trainer import UpdateSchedule

    every = UpdateSchedule.from_ratio(config.utd_ratio, config.num_envs).every
    return max(every, -(-chunk_iters // every) * every)


def measure_trainer(config, chunk_iters: int, timing: Timing) -> dict[str, Any]:
    """Steady-state env-steps/s and updates/s of the fused `train_chunk` for `config`."""
    import jax

    from bench.breakdown import random_batch
    from bench.common import compile_timed, per_call, time_steady
    from mjxrsm import replay
    from mjxrsm.config_check import validate
    from mjxrsm.trainer import make_trainer

    chunk_iters = _schedule_aligned(config, chunk_iters)
    config.log_every = config.num_envs * chunk_iters
    validate(config)
    t0 = time.perf_counter()
    trainer = make_trainer(config)
    build_s = time.perf_counter() - t0
    key = jax.random.PRNGKey(config.seed)
    init, init_compile = compile_timed(trainer.init, key)
    state = init(key)

    n_fill = min(config.replay_capacity, max(config.algo.batch_size, 1024))
    obs_size, act_size = trainer.env.observation_size, trainer.env.action_size

    def fill(s):
        data = random_batch(jax.random.PRNGKey(1), (n_fill,), obs_size, act_size)
        return s.replace(buffer=replay.insert(s.buffer, data))

    state = jax.jit(fill, donate_argnums=0)(state)
    chunk, chunk_compile = compile_timed(trainer.train_chunk, state)
    state, _ = chunk(state)  # first run: pages memory in, not timed
    jax.block_until_ready(state)
    u0, e0 = int(state.updates), int(state.env_steps)
    state, times = time_steady(lambda s: chunk(s)[0], state, timing)
    calls = len(times)
    updates, steps = (int(state.updates) - u0) / calls, (int(state.env_steps) - e0) / calls
    t = per_call(times)
    return {
        "env_steps_per_s": steps / t,
        "updates_per_s": updates / t,
        "mean_env_steps_per_s": steps * calls / sum(times),
        "chunk_s": times,
        "chunk_iters": chunk_iters,
        "env_steps_per_chunk": chunk_iters * config.num_envs,
        "updates_per_chunk": updates,
        "schedule": dataclasses.asdict(trainer.schedule),
        "compile": {"build_s": build_s, "init": init_compile, "train_chunk": chunk_compile,
                    "total_s": build_s + sum(init_compile.values())
                    + sum(chunk_compile.values())},
        "obs_size": obs_size,
        "action_size": act_size,
    }


def worker_info(spec: dict) -> dict:
    from bench.common import device_info

    return {"device": device_info()}


def worker_trainer(spec: dict) -> dict:
    config, applied = build_config(spec["env"], spec["algo"], spec["preset"], spec["overrides"])
    out = measure_trainer(config, spec["chunk_iters"], Timing(**spec["timing"]))
    out.update(process_usage())  # before any breakdown, so the peaks are the trainer's
    out["config"] = config_to_dict(config)
    out["applied_overrides"] = applied
    return out


def worker_official(spec: dict) -> dict:
    """Full train loop + `agent.update` alone + breakdown at the official settings."""
    from bench.breakdown import breakdown

    config, applied = build_config(OFFICIAL_ENV, spec["algo"], "paper", spec["overrides"])
    loop = measure_trainer(config, spec["chunk_iters"], Timing(**spec["timing"]))
    loop.update(process_usage())
    parts = breakdown(config.algo, loop["obs_size"], loop["action_size"], config.num_envs,
                      spec["reps"], Timing(**spec["breakdown_timing"]))
    return {"loop": loop, "breakdown": parts, "config": config_to_dict(config),
            "applied_overrides": applied}


def worker_breakdown(spec: dict) -> dict:
    from bench.breakdown import breakdown
    from mjxrsm.envs import make_env

    config, applied = build_config(spec["env"], spec["algo"], spec["preset"], spec["overrides"])
    env = make_env(config.env.name)
    parts = breakdown(config.algo, env.observation_size, env.action_size, config.num_envs,
                      spec["reps"], Timing(**spec["timing"]))
    return {"breakdown": parts, "config": config_to_dict(config), "applied_overrides": applied}


def worker_physics(spec: dict) -> dict:
    """The physics limit: env steps only (random actions), wrapped as in training and raw."""
    import jax

    from bench.common import compile_timed, per_call, time_steady
    from mjxrsm.envs import make_env, wrap_for_training

    n, iters, timing = spec["num_envs"], spec["chunk_iters"], Timing(**spec["timing"])
    raw = make_env(spec["env"])
    out: dict[str, Any] = {}
    envs = {"wrapped": wrap_for_training(raw, spec["episode_length"] or None)}  # 0: task's own
    if spec.get("raw"):
        envs["raw"] = raw
    for label, env in envs.items():
        act_size = env.action_size

        def rollout(carry, env=env, act_size=act_size):
            def body(c, _):
                s, k = c
                k, ka = jax.random.split(k)
                a = jax.random.uniform(ka, (n, act_size), minval=-1.0, maxval=1.0)
                return (jax.vmap(env.step)(s, a), k), None

            return jax.lax.scan(body, carry, None, length=iters)[0]

        keys = jax.random.split(jax.random.PRNGKey(0), n)
        reset, reset_compile = compile_timed(jax.jit(jax.vmap(env.reset)), keys)
        carry = (reset(keys), jax.random.PRNGKey(1))
        step, step_compile = compile_timed(jax.jit(rollout, donate_argnums=0), carry)
        carry = step(carry)
        jax.block_until_ready(carry)
        _, times = time_steady(step, carry, timing)
        out[label] = {"env_steps_per_s": n * iters / per_call(times), "chunk_s": times,
                      "compile": {"reset": reset_compile, "rollout": step_compile}}
    out["chunk_iters"] = iters
    return out


def _patch_brax_for_installed_jax() -> list[str]:
    """Brax 0.14.2's SAC calls `jax.device_put_replicated`, which this JAX removed; give it the
    documented single-device equivalent (stack along a new leading device axis)."""
    import jax
    import jax.numpy as jnp

    patched = []
    try:
        jax.device_put_replicated  # noqa: B018 - attribute probe
    except AttributeError:
        def device_put_replicated(x, devices):
            return jax.tree.map(lambda a: jnp.stack([jnp.asarray(a)] * len(devices)), x)

        jax.device_put_replicated = device_put_replicated
        patched.append("jax.device_put_replicated shim (stack over devices)")
    return patched


class _NoEvaluator:
    """Stands in for Brax's Evaluator: its rollouts lie outside the timed training epochs and
    would only add compile time (and its reset compile) to the benchmark."""

    def __init__(self, *args, **kwargs):
        pass

    def run_evaluation(self, policy_params, training_metrics, aggregate_episodes=True):
        return dict(training_metrics)


def worker_brax_sac(spec: dict) -> dict:
    """Brax's own SAC trainer configured like our SAC cell; steady state = epochs after the
    first (which includes compilation), timed by Brax itself (`training/sps`)."""
    import functools

    from bench.common import per_call

    patched = _patch_brax_for_installed_jax()
    from brax import envs as brax_envs
    from brax.training import acting
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac_train

    from mjxrsm.envs import make_env
    from mjxrsm.trainer import UpdateSchedule

    acting.Evaluator = _NoEvaluator
    patched.append("brax.training.acting.Evaluator -> no-op (evaluation is not timed)")
    config, applied = build_config(spec["env"], "sac", spec["preset"], spec["overrides"])
    n, batch = config.num_envs, config.algo.batch_size
    sched = UpdateSchedule.from_ratio(config.utd_ratio, n)
    grad_updates = sched.per_iter if sched.every == 1 else 1
    iters, epochs = spec["chunk_iters"], spec["epochs"]
    min_replay = max(batch, n)
    prefill = -(-min_replay // n) * n
    hidden = tuple(config.algo.hidden)
    kwargs = {
        "num_timesteps": prefill + epochs * iters * n,
        "episode_length": config.env.episode_length or make_env(spec["env"]).episode_length,
        "num_envs": n,
        "num_eval_envs": 1,
        "learning_rate": config.algo.lr,
        "discounting": config.algo.gamma,
        "seed": 0,
        "batch_size": batch,
        "num_evals": epochs + 1,
        "reward_scaling": config.algo.reward_scale,
        "tau": config.algo.tau,
        "min_replay_size": min_replay,
        "max_replay_size": config.replay_capacity,
        "grad_updates_per_step": grad_updates,
        "max_devices_per_host": 1,
    }
    marks: list[tuple[float, int, float]] = []

    def progress(step, metrics):
        marks.append((time.perf_counter(), int(step), float(metrics.get("training/sps", math.nan))))

    t0 = time.perf_counter()
    sac_train.train(
        environment=brax_envs.get_environment(spec["env"], backend="mjx"),
        network_factory=functools.partial(sac_networks.make_sac_networks,
                                          hidden_layer_sizes=hidden),
        progress_fn=progress, **kwargs,
    )
    wall = time.perf_counter() - t0
    sps = [m[2] for m in marks[1:]]  # marks[0] is the (skipped) initial evaluation
    epoch_steps = iters * n
    env_sps = epoch_steps / per_call([epoch_steps / s for s in sps[1:]])
    return {
        "env_steps_per_s": env_sps,
        "updates_per_s": env_sps / n * grad_updates,
        "epoch_sps": sps,
        "compile_s_est": epoch_steps / sps[0] - epoch_steps / env_sps,
        "wall_s": wall,
        "updates_per_vector_step": grad_updates,
        "updates_matched": sched.every == 1,
        "settings": {**kwargs, "hidden_layer_sizes": hidden, "activation": "relu (brax default)",
                     "alpha_lr": 3e-4, "policy_and_q_lr": config.algo.lr,
                     "steps_per_epoch": iters},
        "patches": patched,
        "applied_overrides": applied,
    }


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
    p = argparse.ArgumentParser(
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
    p.add_argument("--preset", choices=("paper", "fast", "cpu"),
                   help="config preset of the grid cells (default: profile's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for grid, sweeps and yardsticks, e.g. algo.lr=1e-4, "
                        "utd_ratio=1/64; keys an algorithm lacks are skipped (repeatable)")
    p.add_argument("--sweep", action="append", default=None, metavar="KEY=V1,V2",
                   help="one-at-a-time knob sweep around --sweep-at (repeatable; replaces the "
                        "profile's sweeps; --sweep none disables them)")
    p.add_argument("--sweep-at", metavar="ENV:NUM_ENVS", help="reference cell of the sweeps")
    p.add_argument("--chunk-iters", type=int, help="vector steps per timed chunk")
    p.add_argument("--min-time", type=float, help="steady-state seconds per measurement")
    p.add_argument("--skip", default="", help=f"comma-separated parts to skip: {SKIPPABLE}")
    p.add_argument("--timeout", type=float, help="seconds per worker process")
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


def make_plan(args: argparse.Namespace, device: dict[str, Any]) -> Plan:
    name = args.device_profile
    if name == "auto":
        name = "gpu" if device.get("platform") == "gpu" else "cpu"
    base = QUICK_PROFILE if args.quick else PROFILES[name]
    sweep_at = base.sweep_at
    if args.sweep_at:
        env, _, n = args.sweep_at.partition(":")
        sweep_at = (env, int(n))
    timing = base.timing
    if args.min_time is not None:
        timing = dataclasses.replace(timing, min_time=args.min_time)
    profile = dataclasses.replace(
        base,
        envs=_csv(args.envs) or base.envs,
        algos=_csv(args.algos) or base.algos,
        num_envs=_csv(args.num_envs, int) or base.num_envs,
        preset=args.preset or base.preset,
        chunk_iters=args.chunk_iters or base.chunk_iters,
        timing=timing,
        sweep_at=sweep_at,
        timeout_s=args.timeout or base.timeout_s,
    )
    bad = sorted(set(profile.algos) - set(ALGOS))
    if bad:
        raise SystemExit(f"error: unknown algorithm(s) {bad}; choose from {list(ALGOS)}")
    skip = set(_csv(args.skip) or ())
    if skip - set(SKIPPABLE):
        raise SystemExit(f"error: --skip takes {SKIPPABLE}, got {sorted(skip - set(SKIPPABLE))}")
    if args.sweep is None:
        sweeps = dict(base.sweeps)
    elif args.sweep == ["none"]:
        sweeps = {}
    else:
        sweeps = parse_sweeps(args.sweep)
    user = parse_assignments(args.set)
    _check_keys(user, profile, "--set")
    _check_keys(sweeps, profile, "--sweep")
    overrides = {**(QUICK_OVERRIDES if args.quick else {}), **user}
    out = args.out or (Path(tempfile.gettempdir()) / "mjxrsm-bench-quick" if args.quick
                       else RESULTS)
    return Plan(profile, overrides, sweeps, skip, out, args.quick, device)


def _check_keys(keys, profile: Profile, flag: str) -> None:
    """Every overridden key must exist for at least one algorithm of the grid."""
    from bench.common import has_key
    from configs.train import get_config

    env = profile.envs[0] if profile.envs else profile.sweep_at[0]
    configs = [get_config(f"{env},{a},{profile.preset}") for a in profile.algos]
    unknown = sorted(k for k in keys if not any(has_key(c, k) for c in configs))
    if unknown:
        raise SystemExit(f"error: {flag}: no algorithm's config has {unknown}")


def _check_config(env: str, algo: str, preset: str, overrides: dict) -> str | None:
    """Why this cell cannot run (invalid config, e.g. a UTD that does not divide), or None."""
    try:
        from mjxrsm.config_check import validate
        from mjxrsm.trainer import UpdateSchedule

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
        from bench.common import get_key

        base_over = {**self.plan.overrides, "num_envs": n}
        base_config, _ = build_config(env, algo, self.plan.profile.preset, base_over)
        if not _has(base_config, key):
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


def _has(config, dotted: str) -> bool:
    from bench.common import has_key

    return has_key(config, dotted)


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


def add_ratios(results: dict) -> None:
    """Ratios of every grid/sweep cell to the yardsticks at the same (env, num_envs), and of the
    official-settings figures to the official implementation."""
    yard = {(y["kind"], y["env"], y["num_envs"]): y for y in results["yardsticks"]
            if "error" not in y}
    for cell in results["cells"] + results["sweep_cells"]:
        if "error" in cell:
            continue
        phys = yard.get(("physics", cell["env"], cell["num_envs"]))
        brax = yard.get(("brax_sac", cell["env"], cell["num_envs"]))
        cell["ratios"] = {
            "vs_physics_env_steps": phys and cell["env_steps_per_s"]
            / phys["wrapped"]["env_steps_per_s"],
            "vs_brax_sac_env_steps": brax and cell["env_steps_per_s"] / brax["env_steps_per_s"],
            "vs_brax_sac_updates": brax and cell["updates_per_s"] / brax["updates_per_s"],
        }
    for off in results["official"]:
        if "error" in off:
            continue
        ref = OFFICIAL_UPDATES_PER_S[off["algo"]]
        need = REQUIRED_SPEEDUP.get(off["algo"])
        loop = off["loop"]["updates_per_s"] / ref
        alone = off["breakdown"]["update"]["updates_per_s"] / ref
        official = not off.get("applied_overrides")  # --quick shrinks the math: no verdict
        off["ratios"] = {"official_settings": official, "loop_vs_official": loop,
                         "update_alone_vs_official": alone, "required": need,
                         "meets_required_loop": None if need is None or not official
                         else loop >= need}


def markdown(results: dict) -> str:
    dev = (results.get("hardware") or {}).get("device") or {}
    hw = results.get("hardware") or {}
    v = results.get("versions") or {}
    lines = [
        f"# Throughput — {dev.get('device_kind', '?')} — {results.get('date', '')[:10]}",
        "",
        f"Host: {hw.get('cpu_model')} ({hw.get('cpu_usable')} usable cores, "
        f"{hw.get('memory_gb')} GB); load average at start {hw.get('load_avg_1_5_15')}. "
        f"jax {v.get('jax')}, mujoco-mjx {v.get('mujoco-mjx')}, brax {v.get('brax')}; "
        f"commit {str((results.get('git') or {}).get('commit'))[:10]}"
        f"{' (dirty)' if (results.get('git') or {}).get('dirty') else ''}.",
    ]
    if results.get("quick"):
        lines += ["", "**--quick smoke run: tiny settings, not a benchmark.**"]
    if results["official"]:
        lines += ["", f"## Official settings ({OFFICIAL_ENV}, paper preset: 5 envs, batch 256, "
                      "32 particles, 20 steps, UTD 0.2)", "",
                  "Updates/s of the full train loop (5 envs stepped + acted + updated, as the "
                  "official figure) and of `agent.update` alone; ratios to the official "
                  "implementation on a 2-core CPU.", ""]
        rows = []
        for off in results["official"]:
            if "error" in off:
                rows.append([off["algo"], off["error"][:60], "-", "-", "-", "-", "-"])
                continue
            r = off["ratios"]
            need = r["required"]
            if not r["official_settings"]:
                verdict = "n/a: not the official settings"
            elif need is None:
                verdict = "-"
            else:
                verdict = f"{'meets' if r['meets_required_loop'] else 'misses'} {need:g}x"

            rows.append([off["algo"], off["loop"]["updates_per_s"],
                         off["breakdown"]["update"]["updates_per_s"],
                         OFFICIAL_UPDATES_PER_S[off["algo"]], f"{fmt(r['loop_vs_official'])}x",
                         f"{fmt(r['update_alone_vs_official'])}x", verdict])
        lines.append(md_table(["algo", "loop updates/s", "update alone /s", "official /s",
                               "loop ratio", "alone ratio", "target"], rows))
    if results["cells"]:
        lines += ["", f"## Grid ({results['profile']['preset']} preset)", "",
                  "Steady state after compilation. `% physics` = env-steps/s over the physics "
                  "limit (wrapped env, random actions, no learning) at the same env and num_envs; "
                  "`x Brax SAC` = ours over Brax's SAC trainer (same num_envs, batch, updates "
                  "per vector step, widths). Peak host memory is the worker process's max RSS.",
                  ""]
        lines.append(_cells_table(results["cells"]))
    if results["yardsticks"]:
        lines += ["", "## Yardsticks", ""]
        rows = []
        for y in results["yardsticks"]:
            if "error" in y:
                rows.append([y["kind"], y["env"], y["num_envs"], y["error"][:60], "-", "-"])
            elif y["kind"] == "physics":
                raw = y.get("raw", {}).get("env_steps_per_s")
                rows.append(["physics limit", y["env"], y["num_envs"],
                             y["wrapped"]["env_steps_per_s"],
                             "" if raw is None else f"raw env (no wrapper): {fmt(raw)}",
                             y["wrapped"]["compile"]["rollout"]["compile_s"]])
            else:
                rows.append(["brax SAC", y["env"], y["num_envs"], y["env_steps_per_s"],
                             f"{fmt(y['updates_per_s'])} updates/s"
                             + ("" if y["updates_matched"] else " (UTD not matched)"),
                             y["compile_s_est"]])
        lines.append(md_table(["yardstick", "env", "num_envs", "env-steps/s", "other",
                               "compile s"], rows))
    if results["sweep_cells"]:
        lines += ["", "## Knob sweeps (one at a time)", "", _cells_table(results["sweep_cells"])]
    blocks = [(f"official settings, {o['algo']}", o["breakdown"]) for o in results["official"]
              if "breakdown" in o]
    blocks += [(f"{b['env']} {b['preset']} preset, {b['algo']}", b["breakdown"])
               for b in results["breakdowns"] if "breakdown" in b]
    if blocks:
        lines += ["", "## Per-update cost breakdown (ms per call)", "",
                  "Each part jitted and timed alone. `amortised sum` = sampling + critic + "
                  "policy/policy_delay; `update` = the whole `agent.update`. The last column is "
                  "the dense-layer work of the TD target's best-of-N sampling over its time "
                  "(activations not counted): compare it with the device's peak.", ""]
        rows = []
        for name, parts in blocks:
            cells = ", ".join(f"{k} {fmt(p['ms'])}" for k, p in parts.items()
                              if k not in ("update", "amortised_sum", "act"))
            rate = parts.get("td_sampling", {}).get("matmul_gflop_per_s")
            rows.append([name, cells, parts["amortised_sum"]["ms"], parts["update"]["ms"],
                         f"{fmt(parts['act']['ms'])} ({parts['act']['num_envs']} envs)", rate])
        lines.append(md_table(["config", "parts", "amortised sum", "update", "act",
                               "sampling matmul GFLOP/s"], rows))
    lines += ["", f"Total benchmark wall time: {fmt(results.get('elapsed_s', 0) / 60)} min.", ""]
    return "\n".join(lines)


def _cells_table(cells: list[dict]) -> str:
    rows = []
    for c in cells:
        knob = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                         for k, v in c.get("sweep", {}).items())
        knob += " (base)" if c.get("is_base") else ""
        if "error" in c:
            rows.append([c["algo"], c["env"], c["num_envs"], knob, c["error"][:60]] + ["-"] * 6)
            continue
        r = c.get("ratios", {})
        pct = r.get("vs_physics_env_steps")
        rows.append([c["algo"], c["env"], c["num_envs"], knob, c["env_steps_per_s"],
                     c["updates_per_s"], c["compile"]["total_s"],
                     None if pct is None else f"{100 * pct:.2g}%",
                     r.get("vs_brax_sac_env_steps"), c["peak_host_mb"], c["peak_device_mb"]])
    return md_table(["algo", "env", "num_envs", "knob", "env-steps/s", "updates/s", "compile s",
                     "% physics", "x Brax SAC", "host MB", "device MB"], rows)


def plot(results: dict, path: Path) -> None:
    """env-steps/s vs num_envs (log-log), one panel per env, one line per algo, with the physics
    limit and Brax SAC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in results["cells"] if "error" not in c]
    envs = sorted({c["env"] for c in cells})
    if not envs:
        return
    fig, axes = plt.subplots(1, len(envs), figsize=(5 * len(envs), 4), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for algo in ALGOS:
            pts = sorted((c["num_envs"], c["env_steps_per_s"]) for c in cells
                         if c["env"] == env and c["algo"] == algo)
            if pts:
                ax.plot(*zip(*pts, strict=True), "o-", color=f"C{ALGOS.index(algo)}", label=algo)
        for kind, style, label in (("physics", "k--", "physics limit"),
                                   ("brax_sac", "k:", "Brax SAC")):
            pts = sorted(
                (y["num_envs"], y["wrapped"]["env_steps_per_s"] if kind == "physics"
                 else y["env_steps_per_s"])
                for y in results["yardsticks"]
                if y["kind"] == kind and y["env"] == env and "error" not in y)
            if pts:
                ax.plot(*zip(*pts, strict=True), style, marker="s", ms=3, label=label)
        ticks = sorted({c["num_envs"] for c in cells if c["env"] == env})
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set(xlabel="num_envs", ylabel="env-steps/s", title=env)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    dev = ((results.get("hardware") or {}).get("device") or {}).get("device_kind", "")
    fig.suptitle(f"Steady-state throughput ({results['profile']['preset']} preset, {dev})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
