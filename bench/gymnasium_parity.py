"""Measure how far the MJX Gymnasium tasks are from Gymnasium itself, and how fast they run.

    python -m bench.gymnasium_parity                       # all six tasks (CPU: ~30 min)
    python -m bench.gymnasium_parity --tasks Hopper-v5 --seeds 0 1 --steps 100

Per task it writes to bench/results/parity/gymnasium-parity-cpu.json (merging with tasks already
there):

* per-step errors from identical states (see `bench.parity`), float32 (what
  training uses) and float64 (JAX x64, in a subprocess: separates float32 rounding from real
  differences): max, 99th percentile and median over all steps and seeds, per obs segment,
  reward, every info term, terminated/truncated mismatch counts, and tolerance violations;
* Humanoid: C MuJoCo with Newton (what MJX must use) against Gymnasium's PGS, and the float64
  MJX comparison made against C with Newton; Ant: float32 with stock MJX contact frames;
* open-loop drift: same start and actions, no re-synchronisation (steps until the obs error
  exceeds 1e-3 / 1e-1, and the error at a few horizons);
* speed: compile time, single-env step latency, jit(vmap) steps/s for 64 envs, and Gymnasium's
  own (C MuJoCo, one env) steps/s for scale.
"""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from typing import Any

import jax
import numpy as np

from bench import parity
from bench.cli import ArgumentParser, nonnegative_int, positive_int
from mjxrsm.envs.gymnasium_mjx import TASKS, make

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
OUT = os.path.join(RESULTS, "parity", "gymnasium-parity-cpu.json")
DRIFT_HORIZONS = (1, 10, 50, 100, 200, 300)


def _drift(env: Any, name: str, step: Any, seeds: list[int], n: int) -> dict[str, Any]:
    runs = [parity.open_loop_drift(env, name, s, n, step, stop_at_termination=False) for s in seeds]
    out: dict[str, Any] = {"steps": n, "seeds": seeds}
    for thr in (1e-3, 1e-1):
        first = [int(np.argmax(r["obs"] > thr)) if (r["obs"] > thr).any() else n for r in runs]
        out[f"first_step_obs_err_gt_{thr:g}"] = first
    out["max_obs_err_at"] = {
        str(h): float(max(r["obs"][:h].max() for r in runs)) for h in DRIFT_HORIZONS if h <= n
    }
    out["max_reward_err_at"] = {
        str(h): float(max(r["reward"][:h].max() for r in runs)) for h in DRIFT_HORIZONS if h <= n
    }
    return out


def _speed(env: Any, step: Any, num_envs: int, reps: int) -> dict[str, float]:
    template = parity.committed(parity.state_template(env))
    action = parity.committed(np.zeros(env.action_size, np.float32))
    state = step(template, action)
    t0 = time.perf_counter()
    for _ in range(reps):
        state = step(state, action)
    jax.block_until_ready(state)
    single_ms = (time.perf_counter() - t0) / reps * 1e3

    batch = jax.jit(jax.vmap(env.step))
    keys = jax.random.split(jax.random.key(0), num_envs)
    states = jax.jit(jax.vmap(env.reset))(keys)
    actions = jax.random.uniform(
        jax.random.key(1), (num_envs, env.action_size), minval=-1, maxval=1
    )
    t0 = time.perf_counter()
    states = jax.block_until_ready(batch(states, actions))
    vmap_compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(reps):
        states = batch(states, actions)
    jax.block_until_ready(states)
    dt = time.perf_counter() - t0
    return {
        "single_env_step_ms": single_ms,
        f"vmap{num_envs}_steps_per_s": num_envs * reps / dt,
        f"vmap{num_envs}_compile_s": vmap_compile_s,
    }


def _gymnasium_speed(name: str, reps: int) -> float:
    gym = parity.gymnasium_env(name)
    gym.reset(seed=0)
    action = np.zeros(gym.action_space.shape)
    t0 = time.perf_counter()
    for _ in range(reps):
        gym.step(action)
    return reps / (time.perf_counter() - t0)


def run_speed(name: str) -> dict[str, float]:
    """Speed alone (compile, 1-env latency, 64-env throughput, Gymnasium's C speed)."""
    env = make(name, impl="jax")
    step = jax.jit(env.step)
    t0 = time.perf_counter()
    zero = parity.committed(np.zeros(env.action_size, np.float32))
    jax.block_until_ready(step(parity.committed(parity.state_template(env)), zero))
    out = {"compile_s": time.perf_counter() - t0, **_speed(env, step, 64, 50)}
    out["gymnasium_c_steps_per_s"] = _gymnasium_speed(name, 2000)
    out["load_average_1min"] = os.getloadavg()[0]
    print(f"== {name} speed: {out}", flush=True)
    return out


def run_task(name: str, seeds: list[int], steps: int, drift_steps: int, speed: bool) -> dict:
    print(f"== {name}", flush=True)
    env = make(name, impl="jax")
    res: dict[str, Any] = {
        "obs_dim": env.observation_size,
        "act_dim": env.action_size,
        "observation_structure": env.observation_structure,
        "frame_skip": env.frame_skip,
        "dt": env.dt,
        "seeds": seeds,
        "steps_per_seed": steps,
    }
    # float32, in this process: per-step parity, then drift and speed with the same compile.
    step = jax.jit(env.step)
    t0 = time.perf_counter()
    zero = parity.committed(np.zeros(env.action_size, np.float32))
    jax.block_until_ready(step(parity.committed(parity.state_template(env)), zero))
    compile_s = time.perf_counter() - t0
    refs = [parity.record_reference(env, name, s, steps) for s in seeds]
    errors = [parity.compare_steps(env, r, step) for r in refs]
    found = [
        f"seed {s}: {p}"
        for s, r, e in zip(seeds, refs, errors, strict=True)
        for p in parity.problems(e, r.out, parity.tolerance(name, x64=False))
    ]
    res["float32"] = {**parity.stats(errors), "problems": found, "compile_s": compile_s}
    print(f"   float32 max: {res['float32']['max']}", flush=True)
    res["drift_float32"] = _drift(env, name, step, seeds, drift_steps)
    if speed:
        res["speed"] = {"compile_s": compile_s, **_speed(env, step, 64, 50)}
        res["speed"]["gymnasium_c_steps_per_s"] = _gymnasium_speed(name, 2000)
        res["speed"]["load_average_1min"] = os.getloadavg()[0]
        print(f"   speed: {res['speed']}", flush=True)
    if name == "Humanoid-v5":
        # The one model change: what PGS -> Newton does in C MuJoCo itself.
        c_newton = [parity.step_errors(env, parity.c_steps(name, r, "newton"), r.out) for r in refs]
        res["c_newton_vs_gymnasium_pgs"] = parity.stats(c_newton)
    if name == "Ant-v5":
        # Why the C-style plane-capsule contact frames are the default.
        res["float32_stock_mjx_contact_frames"] = parity.report(
            name, seeds, steps, env_kwargs={"mujoco_contact_frames": False}
        )
    # float64 needs a fresh process (JAX cannot switch precision after tracing in float32).
    c_solver = "newton" if name == "Humanoid-v5" else None
    res["float64"] = parity.report_in_subprocess(
        x64=True, name=name, seeds=seeds, n_steps=steps, c_solver=c_solver
    )
    res["float64"]["reference_c_solver"] = c_solver or "as in the XML"
    print(f"   float64 max: {res['float64']['stats']['max']}", flush=True)
    return res


NOTES = {
    "Humanoid-v5": "PGS -> Newton (MJX has no PGS); cfrc_ext via mjx.rne_postconstraint",
    "Ant-v5": "cfrc_ext via mjx.rne_postconstraint; C-style plane-capsule contact frames",
    "HalfCheetah-v5": "none",
    "Walker2d-v5": "none",
    "Hopper-v5": "none",
    "Swimmer-v5": "none (fluid drag: MJX's inertia-box model = MuJoCo's)",
}


def _rel_obs(stats: dict[str, Any], key: str = "max") -> float:
    """Worst obs error relative to its segment's scale (max |Gymnasium value|)."""
    return max(stats[key][k] / max(scale, 1e-12) for k, scale in stats["obs_scale"].items())


def _order(key: str) -> tuple[int, str]:
    return ({"obs": 0, "reward": 1}.get(key.split("/")[0], 2), key)


def markdown(results: dict[str, Any]) -> str:
    """The docs/TASKS.md tables, from a results file."""
    lines = [
        "| task | obs / act | model change for MJX | float32 obs err. (rel.) p99 / max "
        "| float32 reward err. p99 / max | float64 obs (rel.) / reward max | terminated "
        "mismatches | CPU: 1 env ms/step; 64 envs steps/s (Gymnasium C 1 env) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in TASKS:
        r = results["tasks"].get(name)
        if r is None:
            continue
        f32, f64 = r["float32"], r["float64"]["stats"]
        counts = f32["counts"]
        sp = r.get("speed", {})
        speed = (
            f"{sp['single_env_step_ms']:.1f} ms; {sp['vmap64_steps_per_s']:,.0f}/s "
            f"({sp['gymnasium_c_steps_per_s']:,.0f}/s)"
            if sp
            else "-"
        )
        lines.append(
            f"| {name} | {r['obs_dim']} / {r['act_dim']} | {NOTES[name]} | "
            f"{_rel_obs(f32, 'p99'):.1e} / {_rel_obs(f32):.1e} | "
            f"{f32['p99']['reward']:.1e} / {f32['max']['reward']:.1e} | "
            f"{_rel_obs(f64):.0e} / {f64['max']['reward']:.0e} | "
            f"{counts['terminated_mismatches']} of {counts['steps']} | {speed} |"
        )
    lines.append("")
    for name in TASKS:
        r = results["tasks"].get(name)
        if r is None:
            continue
        f32, f64 = r["float32"], r["float64"]["stats"]
        lines += [
            f"#### {name}",
            "",
            "| quantity | scale | float32 max | float32 p99 | float32 median | float64 max |",
            "|---|---|---|---|---|---|",
        ]
        for k in sorted(f32["max"], key=_order):
            scale = f32["obs_scale"].get(k)
            lines.append(
                f"| {k} | {'' if scale is None else f'{scale:.3g}'} | {f32['max'][k]:.2g} | "
                f"{f32['p99'][k]:.2g} | {f32['median'][k]:.2g} | {f64['max'][k]:.2g} |"
            )
        lines.append("")
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("gymnasium", "mujoco", "mujoco-mjx", "jax", "jaxlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(prog="python -m bench.gymnasium_parity",
                       description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--seeds", nargs="+", type=nonnegative_int, default=[0, 1, 2])
    p.add_argument("--steps", type=positive_int, default=300, help="reference steps per seed")
    p.add_argument("--drift-steps", type=positive_int, default=300)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--speed-only", action="store_true", help="re-measure only the speed of --tasks")
    p.add_argument("--out", default=OUT)
    p.add_argument("--markdown", action="store_true", help="print the tables of --out and exit")
    args = p.parse_args(argv)
    if args.markdown:
        with open(args.out) as f:
            print(markdown(json.load(f)))
        return

    results: dict[str, Any] = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    results["meta"] = {
        "versions": _versions(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "jax_backend": jax.default_backend(),
        "date": time.strftime("%Y-%m-%d"),
    }
    tasks = results.setdefault("tasks", {})
    for name in args.tasks:
        if args.speed_only:
            tasks.setdefault(name, {})["speed"] = run_speed(name)
        else:
            old_speed = tasks.get(name, {}).get("speed")
            tasks[name] = run_task(
                name, args.seeds, args.steps, args.drift_steps, not args.no_speed
            )
            if args.no_speed and old_speed is not None:
                tasks[name]["speed"] = old_speed  # keep the last measurement
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
