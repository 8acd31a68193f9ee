"""Physics engines side by side: env-steps/s per engine x task x num_envs, and physics' share of a
training chunk.

    python -m bench.engines                       # CPU: raw mujoco.batch, c, jax (~15 min, 2 cores)
    python -m bench.engines --engines c,jax,warp --num-envs 1024,4096,8192   # a GPU: jax vs warp
    python -m bench.engines --tasks Hopper-v5 --num-envs 16 --quick          # smoke

For each (task, num_envs) it measures, in a fresh subprocess per cell:
* `raw`: `mujoco.batch.Batch.step(nstep=frame_skip)` with random controls, outside JAX: the CPU's
  limit for the C engine (same threads);
* `c`, `jax`, `warp`: a jitted `lax.scan` of the trainer's vmapped, auto-resetting env step with
  random actions, i.e. the physics inside the trainer's own chunk (compile excluded);
* `raw` and `c` together in one process, alternating for `--rounds` rounds (medians reported):
  their ratio is the goal (in-scan `c` >= 70% of raw), and a shared VM's speed drifts by tens of
  percent between measurements taken minutes apart;
* `chunk` (with `--chunk`, C engine): the `cpu` preset's DPMD training chunk, and the share of its
  time the env step takes (the physics column divided by the chunk time per vector step).
Results: `bench/results/throughput/engines-<device>-<date>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from statistics import median
from typing import Any

from bench.cli import ArgumentParser, positive_int
from bench.common import (
    RESULTS,
    device_info,
    device_slug,
    fmt,
    log,
    md_table,
    provenance,
    run_worker,
    today,
    worker_main,
    write_json,
)

MODULE = "bench.engines"
TASKS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")
NUM_ENVS = (16, 256, 1024)
ENGINES = ("raw", "c", "jax")
# MJX on a CPU costs ~1-13 ms per env step: cap the env steps of one measurement.
MAX_ENV_STEPS = {"raw": 200_000, "c": 200_000, "jax": 1_024, "warp": 200_000}


def _vector_steps(engine: str, num_envs: int, seconds: float) -> int:
    return max(2, min(200, MAX_ENV_STEPS[engine] // num_envs, int(seconds * 50)))


# ============================================================================= worker


def _raw_stepper(spec: dict):
    """`mujoco.batch` alone (the C engine's ceiling on this machine): a function that times
    `vector_steps` batch steps with random controls and returns seconds per vector step."""
    import numpy as np
    from mujoco import batch as mjbatch

    from mjxrsm.envs.engines.c_engine import default_nthread
    from mjxrsm.envs.gymnasium_mjx import make

    env = make(spec["task"], impl="c")
    n = spec["num_envs"]
    b = mjbatch.Batch(env.mj_model, n, nthread=default_nthread())
    b.reset()
    ctrl = b.bind("ctrl")
    rng = np.random.default_rng(0)
    low, high = env.mj_model.actuator_ctrlrange.T

    def measure(vector_steps: int) -> float:
        times = []
        for _ in range(vector_steps):
            ctrl[...] = rng.uniform(low, high, (n, env.mj_model.nu))
            t = time.perf_counter()
            try:
                b.step(nstep=env.frame_skip)
            except mjbatch.SimulationError:
                b.reset()
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    return measure


def _scan_stepper(spec: dict):
    """The trainer's env step (vmapped, auto-reset, random actions) in a jitted scan of
    `vector_steps`: returns (a function timing one scan in seconds per vector step, compile s)."""
    import jax
    import jax.numpy as jnp

    from mjxrsm.envs import make_env, wrap_for_training

    n, engine = spec["num_envs"], spec["engine"]
    env = wrap_for_training(make_env(spec["task"], impl=engine))
    steps = spec["vector_steps"]

    def body(carry, _):
        state, key = carry
        key, k = jax.random.split(key)
        action = jax.random.uniform(k, (n, env.action_size), minval=-1.0, maxval=1.0)
        return (jax.vmap(env.step)(state, action), key), state.reward.mean()

    @jax.jit
    def rollout(state, key):
        (state, key), r = jax.lax.scan(body, (state, key), None, length=steps)
        return state, key, jnp.mean(r)

    t0 = time.perf_counter()
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), n))
    compiled = rollout.lower(state, jax.random.key(1)).compile()
    compile_s = time.perf_counter() - t0
    carry = {"out": jax.block_until_ready(compiled(state, jax.random.key(1))), "i": 2}  # warm

    def measure() -> float:
        t = time.perf_counter()
        carry["out"] = jax.block_until_ready(
            compiled(carry["out"][0], jax.random.key(carry["i"])))
        carry["i"] += 1
        return (time.perf_counter() - t) / steps

    return measure, compile_s


def raw_cell(spec: dict) -> dict:
    """`mujoco.batch` alone: the C engine's ceiling on this machine."""
    steps = _vector_steps("raw", spec["num_envs"], spec["seconds"])
    per = _raw_stepper(spec)(steps)
    return {"env_steps_per_s": spec["num_envs"] / per, "s_per_vector_step": per,
            "vector_steps": steps, "nthread": _nthread()}


def scan_cell(spec: dict) -> dict:
    """The trainer's env step (vmapped, auto-reset, random actions) in a jitted scan."""
    steps = _vector_steps(spec["engine"], spec["num_envs"], spec["seconds"])
    measure, compile_s = _scan_stepper({**spec, "vector_steps": steps})
    per = min(measure() for _ in range(2))
    return {"env_steps_per_s": spec["num_envs"] / per, "s_per_vector_step": per,
            "vector_steps": steps, "compile_s": compile_s, "impl": spec["engine"],
            "device": device_info()}


def raw_and_c_cell(spec: dict) -> dict:
    """`raw` and in-scan `c` alternating in one process for `rounds` rounds: each round times
    both back to back, so their ratio holds while the machine's speed drifts."""
    import numpy as np

    n = spec["num_envs"]
    steps = _vector_steps("c", n, spec["seconds"])
    raw = _raw_stepper(spec)
    c, compile_s = _scan_stepper({**spec, "engine": "c", "vector_steps": steps})
    per_raw, per_c = [], []
    for _ in range(spec["rounds"]):
        per_raw.append(raw(steps))
        per_c.append(c())
    ratios = [r / q for r, q in zip(per_raw, per_c, strict=True)]
    out = {}
    for name, per in (("raw", per_raw), ("c", per_c)):
        med = float(np.median(per))
        out[name] = {"env_steps_per_s": n / med, "s_per_vector_step": med,
                     "rounds_env_steps_per_s": [n / p for p in per], "vector_steps": steps}
    out["c"].update(compile_s=compile_s, impl="c")
    return {**out, "c_over_raw_by_round": ratios, "nthread": _nthread(),
            "device": device_info()}


def _nthread() -> int:
    from mjxrsm.envs.engines.c_engine import default_nthread

    return default_nthread()


def chunk_cell(spec: dict) -> dict:
    """The cpu preset's DPMD chunk on the C engine, timed after its compile."""
    import jax

    from configs.train import get_config
    from mjxrsm.core.trainer import make_trainer

    c = get_config(f"{spec['task']},dpmd,cpu")
    c.env.impl = "c"
    c.log_every = c.num_envs * spec["iterations"]
    c.start_steps = max(c.algo.batch_size, c.num_envs)
    c.tensorboard = False
    tr = make_trainer(c)
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, _ = jax.block_until_ready(tr.train_chunk(s))
    t = time.perf_counter()
    s, _ = jax.block_until_ready(tr.train_chunk(s))
    per = (time.perf_counter() - t) / tr.iters_per_chunk
    return {"s_per_vector_step": per, "num_envs": c.num_envs, "updates_per_vector_step":
            tr.schedule.per_iter, "updates_per_s": tr.schedule.per_iter / per,
            "device": device_info()}


HANDLERS = {"raw": raw_cell, "scan": scan_cell, "raw_and_c": raw_and_c_cell,
            "chunk": chunk_cell}


# ============================================================================= driver


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--num-envs", default=",".join(map(str, NUM_ENVS)))
    p.add_argument("--engines", default=",".join(ENGINES), help="raw, c, jax, warp")
    p.add_argument("--jax-num-envs", default="16,256",
                   help="num_envs at which MJX runs on a CPU (it is ~50x slower there)")
    p.add_argument("--seconds", type=float, default=2.0, help="target per measurement")
    p.add_argument("--rounds", type=positive_int, default=5,
                   help="alternating raw/c rounds per cell (medians reported)")
    p.add_argument("--chunk-iterations", type=positive_int, default=10,
                   help="vector steps of the timed training chunk (0 with --no-chunk)")
    p.add_argument("--no-chunk", action="store_true", help="skip the training-chunk share")
    p.add_argument("--quick", action="store_true", help="one short measurement per cell")
    p.add_argument("--out", type=Path, help="results file stem (default: results/throughput/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker_main(argv[1:], HANDLERS)
        return
    args = parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    sizes = [int(x) for x in args.num_envs.split(",") if x]
    engines = [e for e in args.engines.split(",") if e]
    jax_sizes = {int(x) for x in args.jax_num_envs.split(",") if x}
    seconds = 0.2 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    cells: list[dict[str, Any]] = []
    device = None
    for task in tasks:
        for n in sizes:
            if {"raw", "c"} <= set(engines):
                spec = {"task": task, "num_envs": n, "seconds": seconds, "rounds": rounds}
                log(f"{task} raw and c x{n}, {rounds} alternating rounds ...")
                res = run_worker(MODULE, {"kind": "raw_and_c", **spec}, timeout=1800)
                device = res.pop("device", None) or device
                for engine in ("raw", "c"):
                    cells.append({**spec, "engine": engine, **res.pop(engine)})
                cells[-1]["c_over_raw_by_round"] = res["c_over_raw_by_round"]
                log(f"  raw {fmt(cells[-2]['env_steps_per_s'])}, c "
                    f"{fmt(cells[-1]['env_steps_per_s'])} env-steps/s")
            for engine in engines:
                if (engine == "jax" and n not in jax_sizes) or (
                        engine in ("raw", "c") and {"raw", "c"} <= set(engines)):
                    continue
                spec = {"task": task, "num_envs": n, "engine": engine, "seconds": seconds}
                kind = "raw" if engine == "raw" else "scan"
                log(f"{task} {engine} x{n} ...")
                res = run_worker(MODULE, {"kind": kind, **spec}, timeout=1800)
                device = res.pop("device", None) or device
                cells.append({**spec, **res})
                log(f"  {fmt(res.get('env_steps_per_s'))} env-steps/s")
        if not args.no_chunk and "c" in engines:
            spec = {"task": task, "iterations": args.chunk_iterations}
            log(f"{task} cpu-preset DPMD chunk ...")
            res = run_worker(MODULE, {"kind": "chunk", **spec}, timeout=3600)
            device = res.pop("device", None) or device
            cells.append({"task": task, "engine": "chunk", **res})
    result = {"benchmark": MODULE, "provenance": provenance(device), "cells": cells}
    result["summary"] = summarize(cells)
    stem = args.out or RESULTS / "throughput" / f"engines-{device_slug(device or {})}-{today()}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json(stem.with_suffix(".json"), result)
    stem.with_suffix(".md").write_text(report(result))
    log(f"wrote {stem}.json and .md")


def summarize(cells: list[dict]) -> list[dict]:
    """Per (task, num_envs): each engine's env-steps/s, c as a share of raw and a multiple of
    jax, and the env step's share of a cpu-preset chunk."""
    rows = []
    by = {(c["task"], c.get("num_envs"), c["engine"]): c for c in cells}
    chunks = {c["task"]: c for c in cells if c["engine"] == "chunk"}
    for task, n in dict.fromkeys((c["task"], c["num_envs"]) for c in cells
                                 if c["engine"] != "chunk"):
        row: dict[str, Any] = {"task": task, "num_envs": n}
        for e in ("raw", "c", "jax", "warp"):
            if (task, n, e) in by:
                row[e] = by[(task, n, e)]["env_steps_per_s"]
        if "raw" in row and "c" in row:
            by_round = by[(task, n, "c")].get("c_over_raw_by_round")
            row["c_over_raw"] = (median(by_round) if by_round  # measured side by side
                                 else row["c"] / row["raw"])
        if "jax" in row and "c" in row:
            row["c_over_jax"] = row["c"] / row["jax"]
        chunk = chunks.get(task)
        if chunk and chunk["num_envs"] == n and (task, n, "c") in by:
            row["physics_share_of_chunk"] = (by[(task, n, "c")]["s_per_vector_step"]
                                             / chunk["s_per_vector_step"])
        rows.append(row)
    return rows


def report(result: dict) -> str:
    prov = result["provenance"]
    host = prov.get("hardware", {})
    head = ["task", "num_envs", "raw mujoco.batch", "c (in scan)", "jax (MJX)", "warp",
            "c / raw", "c / jax", "physics share of a cpu-preset chunk"]
    rows = [[r["task"], r["num_envs"], fmt(r.get("raw")), fmt(r.get("c")), fmt(r.get("jax")),
             fmt(r.get("warp")), fmt(r.get("c_over_raw")), fmt(r.get("c_over_jax")),
             fmt(r.get("physics_share_of_chunk"))] for r in result["summary"]]
    commit = prov.get("git", {}).get("commit")
    rounds = {c["rounds"] for c in result["cells"] if "rounds" in c}
    side_by_side = (f"; `raw` and `c` alternate in one process ({max(rounds)} rounds, medians; "
                    "`c / raw` is the median of the rounds' ratios)" if rounds else "")
    return (f"# Physics engines: env-steps/s\n\n{host.get('cpu_model', '?')}, "
            f"{host.get('cpu_usable', '?')} usable cores; commit {commit}{side_by_side}"
            f"\n\n{md_table(head, rows)}\n")


if __name__ == "__main__":
    main()
