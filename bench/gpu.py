"""The GPU session's one command: `make bench-gpu` (~8 min on one H100/H200).

    python -m bench.gpu                           # the GPU plan -> results/gpu-<device>-<date>.json
    python -m bench.gpu --tiny --out /tmp/g.json  # the same code on CPU with tiny sizes (tests)

It measures what a GPU session is lent for, in order of importance, and writes the JSON after
every cell, so a session cut short keeps what was measured:
  1. the `paper` preset on HalfCheetah-v5: time per 1M env steps, extrapolated from timed chunks
     (the target is under 6 minutes), compile time apart;
  2. the `parallel` preset (DPMD) on HalfCheetah-v5 and Humanoid-v5 at 1k-8k envs: env-steps/s and
     updates/s of the whole fused train chunk, with the physics limit (the same envs stepped with
     random actions and nothing else) beside each;
  3. the physics engines side by side: MJX (`jax`) against MJX-Warp (`warp`) on HalfCheetah-v5
     and Humanoid-v5 at 1k-8k envs (`physics` cells: the trainer's env step alone, in a scan),
     which decides what `env.impl=auto` picks on a GPU.
A cell (but the first) that would start after `--budget-s` is skipped and listed as skipped.
Everything runs in this process, one compile per cell; the chunk is timed in steady state
(median of >= 2 calls).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cli import ArgumentParser, nonnegative_float
from bench.common import (
    RESULTS,
    Timing,
    block,
    compile_timed,
    device_info,
    device_slug,
    fmt,
    log,
    md_table,
    per_call,
    process_usage,
    provenance,
    time_steady,
    today,
    write_json,
)


@dataclass(frozen=True)
class Cell:
    """One measurement: a trainer config (ENV,ALGO,PRESET + overrides) and how long to time it."""

    kind: str  # "paper_1m" | "parallel"
    env: str
    algo: str
    preset: str
    num_envs: int | None  # None: the preset's
    iters: int  # vector steps per timed chunk
    impl: str = "auto"  # the physics engine (env.impl)

    @property
    def name(self) -> str:
        engine = "" if self.impl == "auto" else f"/{self.impl}"
        return f"{self.kind}/{self.env}/{self.algo}/{self.num_envs or 'preset'}{engine}"


PLAN = (
    Cell("paper_1m", "HalfCheetah-v5", "dpmd", "paper", None, 400),
    Cell("parallel", "HalfCheetah-v5", "dpmd", "parallel", 1024, 40),
    Cell("parallel", "HalfCheetah-v5", "dpmd", "parallel", 4096, 20),
    Cell("parallel", "Humanoid-v5", "dpmd", "parallel", 1024, 40),
    Cell("parallel", "Humanoid-v5", "dpmd", "parallel", 4096, 20),
    Cell("physics", "Humanoid-v5", "-", "-", 4096, 20, impl="jax"),
    Cell("physics", "Humanoid-v5", "-", "-", 4096, 20, impl="warp"),
    Cell("physics", "HalfCheetah-v5", "-", "-", 4096, 20, impl="jax"),
    Cell("physics", "HalfCheetah-v5", "-", "-", 4096, 20, impl="warp"),
    Cell("paper_1m", "HalfCheetah-v5", "sdac", "paper", None, 400),
    Cell("parallel", "HalfCheetah-v5", "dpmd", "parallel", 8192, 10),
    Cell("parallel", "Humanoid-v5", "dpmd", "parallel", 8192, 10),
    Cell("parallel", "HalfCheetah-v5", "sac", "parallel", 4096, 20),
    Cell("physics", "Humanoid-v5", "-", "-", 1024, 20, impl="jax"),
    Cell("physics", "Humanoid-v5", "-", "-", 1024, 20, impl="warp"),
    Cell("physics", "Humanoid-v5", "-", "-", 8192, 10, impl="jax"),
    Cell("physics", "Humanoid-v5", "-", "-", 8192, 10, impl="warp"),
)
# The same code paths at sizes a CPU test runs in seconds.
TINY = (
    Cell("paper_1m", "pendulum", "dpmd", "paper", None, 20),
    Cell("parallel", "pendulum", "dpmd", "parallel", 32, 4),
    Cell("parallel", "pendulum", "sac", "parallel", 64, 4),
    Cell("physics", "Hopper-v5", "-", "-", 8, 4, impl="c"),
)
TINY_OVERRIDES = {"algo.hidden": (16, 16), "algo.num_particles": 4, "algo.diffusion_steps": 3,
                  "algo.batch_size": 16, "replay_capacity": 2048, "algo.num_candidates": 4}


def cell_config(cell: Cell, overrides: dict[str, Any]):
    """The preset's config with the cell's envs; warm-up just fills one batch (not timed)."""
    from configs.train import get_config
    from mjxrsm.config.overrides import apply_overrides

    config = get_config(f"{cell.env},{cell.algo},{cell.preset}")
    if cell.num_envs:
        config.num_envs = cell.num_envs
    apply_overrides(config, overrides)
    config.log_every = cell.iters * config.num_envs
    config.start_steps = max(config.algo.batch_size, config.num_envs)
    config.replay_capacity = max(config.replay_capacity, 2 * config.start_steps)
    return config


def physics_limit(trainer, timing: Timing) -> dict[str, float]:
    """Env-steps/s of the wrapped task alone: vmapped steps with random actions in a scan."""
    import jax

    env, n, iters = trainer.env, trainer.config.num_envs, trainer.iters_per_chunk

    def chunk(carry):
        env_state, key = carry

        def body(c, _):
            s, k = c
            k, k_a = jax.random.split(k)
            a = jax.random.uniform(k_a, (n, env.action_size), minval=-1.0, maxval=1.0)
            return (jax.vmap(env.step)(s, a), k), None

        return jax.lax.scan(body, (env_state, key), None, length=iters)[0]

    k_reset, k_run = jax.random.split(jax.random.PRNGKey(1))
    carry = (jax.vmap(env.reset)(jax.random.split(k_reset, n)), k_run)
    compiled, compile_info = compile_timed(jax.jit(chunk), carry)
    carry = compiled(carry)
    block(carry)
    _, times = time_steady(compiled, carry, timing)
    return {"env_steps_per_s": n * iters / per_call(times), "times_s": times, **compile_info}


def measure_physics(cell: Cell, timing: Timing) -> dict[str, Any]:
    """The trainer's env step alone on engine `cell.impl` (bench/engines.py's scan)."""
    from bench.engines import scan_cell

    spec = {"task": cell.env, "num_envs": cell.num_envs, "engine": cell.impl,
            "seconds": max(timing.min_time, 0.2)}
    return {"cell": cell.name, "env": cell.env, "impl": cell.impl, "num_envs": cell.num_envs,
            **scan_cell(spec), "usage": process_usage()}


def measure(cell: Cell, overrides: dict[str, Any], timing: Timing) -> dict[str, Any]:
    import jax

    if cell.kind == "physics":
        return measure_physics(cell, timing)

    from mjxrsm.core.trainer import make_trainer

    config = cell_config(cell, overrides)
    t0 = time.perf_counter()
    trainer = make_trainer(config)
    state = trainer.init(jax.random.PRNGKey(0))
    state, _ = trainer.warmup_chunk(state)
    block(state)
    setup_s = time.perf_counter() - t0
    compiled, compile_info = compile_timed(trainer.train_chunk, state)
    state, _ = compiled(state)
    block(state)

    def step(s):
        return compiled(s)[0]

    state, times = time_steady(step, state, timing)
    chunk_s = per_call(times)
    env_steps = trainer.env_steps_per_chunk
    updates = trainer.iters_per_chunk // trainer.schedule.every * trainer.schedule.per_iter
    out: dict[str, Any] = {
        "cell": cell.name, "env": cell.env, "algo": cell.algo, "preset": cell.preset,
        "num_envs": config.num_envs, "utd_ratio": config.utd_ratio,
        "batch_size": config.algo.batch_size, "iters_per_chunk": trainer.iters_per_chunk,
        "env_steps_per_chunk": env_steps, "updates_per_chunk": updates,
        "chunk_s": chunk_s, "times_s": times, "setup_and_warmup_s": setup_s, **compile_info,
        "env_steps_per_s": env_steps / chunk_s, "updates_per_s": updates / chunk_s,
    }
    if cell.kind == "paper_1m":
        out["minutes_per_1m_env_steps"] = 1e6 / out["env_steps_per_s"] / 60
    else:
        out["physics"] = physics_limit(trainer, timing)
        out["fraction_of_physics_limit"] = (out["env_steps_per_s"]
                                            / out["physics"]["env_steps_per_s"])
    out["usage"] = process_usage()
    return out


def markdown(report: dict[str, Any]) -> str:
    rows = []
    for r in report["cells"]:
        if "error" in r or "skipped" in r:
            rows.append([r["cell"], "-", "-", "-", "-", r.get("error") or r["skipped"]])
            continue
        phys = r.get("physics", {}).get("env_steps_per_s")
        rows.append([r["cell"], r["env_steps_per_s"], r.get("updates_per_s"), phys,
                     r.get("minutes_per_1m_env_steps"), f"compile {fmt(r['compile_s'])} s"])
    dev = report["provenance"]["hardware"]["device"]
    head = f"# GPU benchmark on {dev.get('device_kind')} ({report['provenance']['date']})\n\n"
    return head + md_table(["cell", "env-steps/s", "updates/s", "physics limit env-steps/s",
                            "min per 1M env steps", "note"], rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    p.add_argument("--budget-s", type=nonnegative_float, default=420.0,
                   help="start no new cell after this many seconds (default 420)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes on a toy task (CPU test)")
    p.add_argument("--out", type=Path,
                   help="JSON path (default bench/results/gpu-DEVICE-DATE.json)")
    args = p.parse_args(argv)

    plan, overrides = (TINY, TINY_OVERRIDES) if args.tiny else (PLAN, {})
    timing = Timing(min_time=0.0 if args.tiny else 2.0, min_reps=2, max_reps=5)
    device = device_info()
    out = args.out or RESULTS / "throughput" / f"gpu-{device_slug(device)}-{today()}.json"
    report: dict[str, Any] = {"provenance": provenance(device), "overrides": overrides,
                              "budget_s": args.budget_s, "cells": []}
    t_start = time.perf_counter()
    for cell in plan:
        elapsed = time.perf_counter() - t_start
        if report["cells"] and elapsed > args.budget_s:  # the first cell always runs
            report["cells"].append({"cell": cell.name, "skipped": f"budget ({elapsed:.0f} s)"})
            continue
        log(f"{cell.name} ...")
        try:
            res = measure(cell, overrides, timing)
        except Exception as e:  # one failed cell (e.g. out of memory) must not lose the others
            res = {"cell": cell.name, "error": f"{type(e).__name__}: {str(e)[:500]}"}
        report["cells"].append(res)
        log(f"{cell.name}: " + ", ".join(
            f"{k} {fmt(res[k])}" for k in ("env_steps_per_s", "updates_per_s",
                                           "minutes_per_1m_env_steps", "error") if k in res))
        report["wall_s"] = time.perf_counter() - t_start
        write_json(out, report)
        out.with_suffix(".md").write_text(markdown(report))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
