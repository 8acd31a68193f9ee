"""Training speed per physics engine: the trainer's own chunk on `c` and on `jax`, interleaved.

    python -m bench.engines_training                         # the four default cells (~10 min)
    python -m bench.engines_training --cells HalfCheetah-v5:dpmd:256:1/16 --rounds 5
    python -m bench.engines_training --quick                 # smoke: tiny chunks

Why interleaved: on a shared or virtual CPU the speed of one process drifts by tens of percent
over minutes (another tenant, frequency), so two engines timed one after the other can differ by
more than the engines do. Here both trainers of a cell are built in one worker process and their
chunks alternate (c, jax, c, jax, ...): drift hits both alike, and the median of each engine's
rounds is compared. A cell is TASK:ALGO:NUM_ENVS:UTD with the `cpu` trainer preset otherwise
(the regimes of the learning benchmark: the `cpu` preset's own num_envs at UTD 1, and 256 envs at
UTD 1/16). Results: `bench/results/throughput/engines-training-<device>-<date>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from bench.cli import ArgumentParser, fail, positive_int
from bench.common import (
    RESULTS,
    config_to_dict,
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

MODULE = "bench.engines_training"
CELLS = ("HalfCheetah-v5:sac:1:1", "HalfCheetah-v5:dpmd:16:1", "HalfCheetah-v5:sac:256:1/16",
         "HalfCheetah-v5:dpmd:256:1/16")
ENGINES = ("c", "jax")


def parse_cell(text: str) -> dict[str, Any]:
    """'HalfCheetah-v5:dpmd:256:1/16' -> {task, algo, num_envs, utd_ratio}."""
    parts = text.split(":")
    if len(parts) != 4:
        fail(f"--cells: {text!r} is not TASK:ALGO:NUM_ENVS:UTD (e.g. HalfCheetah-v5:dpmd:256:1/16)")
    task, algo, n, utd = parts
    try:
        return {"task": task, "algo": algo, "num_envs": int(n), "utd_ratio": float(Fraction(utd))}
    except (ValueError, ZeroDivisionError):
        fail(f"--cells: {text!r}: NUM_ENVS must be an integer and UTD a number or a fraction")


def iterations_for(spec: dict, updates: int) -> int:
    """Vector steps that hold about `updates` gradient updates at the cell's num_envs and UTD."""
    per_step = spec["num_envs"] * spec["utd_ratio"]
    return max(1, round(updates / per_step))


def cell_config(spec: dict):
    from mjxrsm.config.check import validate
    from mjxrsm.config.files import config_module

    c = config_module("train").get_config(f"{spec['task']},{spec['algo']},cpu")
    c.num_envs = spec["num_envs"]
    c.utd_ratio = spec["utd_ratio"]
    c.log_every = spec["iterations"] * c.num_envs  # one chunk = `iterations` vector steps
    c.start_steps = max(c.algo.batch_size, c.num_envs)
    c.replay_capacity = max(100_000, c.algo.batch_size)
    c.tensorboard = False
    validate(c)
    return c


def training_cell(spec: dict) -> dict:
    """Both engines' trainers for one cell, their chunks timed in alternating rounds."""
    import jax

    from mjxrsm.core.trainer import make_trainer

    trainers, states, compile_s, config = {}, {}, {}, None
    for impl in spec["engines"]:
        c = cell_config(spec)
        c.env.impl = impl
        config = c
        tr = make_trainer(c)
        t = time.perf_counter()
        s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
        s, m = tr.train_chunk(s)  # compile + first run, not timed
        jax.block_until_ready(m)
        compile_s[impl] = time.perf_counter() - t
        trainers[impl], states[impl] = tr, s
    times: dict[str, list[float]] = {impl: [] for impl in spec["engines"]}
    for _ in range(spec["rounds"]):
        for impl in spec["engines"]:
            t = time.perf_counter()
            states[impl], m = trainers[impl].train_chunk(states[impl])
            jax.block_until_ready(m)
            times[impl].append(time.perf_counter() - t)
    tr = next(iter(trainers.values()))
    steps = tr.env_steps_per_chunk
    updates = tr.iters_per_chunk // tr.schedule.every * tr.schedule.per_iter
    engines = {impl: {"chunk_s": v, "median_chunk_s": statistics.median(v),
                      "env_steps_per_s": steps / statistics.median(v),
                      "updates_per_s": updates / statistics.median(v),
                      "first_chunk_s_with_compile": compile_s[impl]}
               for impl, v in times.items()}
    return {"engines": engines, "env_steps_per_chunk": steps, "updates_per_chunk": updates,
            "config": config_to_dict(config), "device": device_info()}


HANDLERS = {"training": training_cell}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    p.add_argument("--cells", default=",".join(CELLS), help="comma-separated TASK:ALGO:N:UTD")
    p.add_argument("--engines", default=",".join(ENGINES), help="engines to alternate")
    p.add_argument("--rounds", type=positive_int, default=5, help="timed chunks per engine")
    p.add_argument("--updates", type=positive_int, default=512,
                   help="gradient updates per timed chunk (at least one vector step): chunks of "
                        "equal work whatever the cell's num_envs and UTD")
    p.add_argument("--quick", action="store_true", help="tiny chunks, 2 rounds (smoke)")
    p.add_argument("--out", type=Path, help="results file stem (default: results/throughput/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker_main(argv[1:], HANDLERS)
        return
    args = parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    rounds = 2 if args.quick else args.rounds
    cells, device = [], None
    for text in [t for t in args.cells.split(",") if t]:
        spec = parse_cell(text)
        spec.update(engines=engines, rounds=rounds,
                    iterations=1 if args.quick else iterations_for(spec, args.updates))
        log(f"{text} ({', '.join(engines)} alternating, {rounds} rounds) ...")
        res = run_worker(MODULE, {"kind": "training", **spec}, timeout=3600)
        device = res.pop("device", None) or device
        cells.append({"cell": text, **spec, **res})
        log("  " + ", ".join(f"{e}: {fmt(r['env_steps_per_s'])} env-steps/s"
                             for e, r in res["engines"].items()))
    result = {"benchmark": MODULE, "provenance": provenance(device), "cells": cells}
    stem = args.out or (RESULTS / "throughput"
                        / f"engines-training-{device_slug(device or {})}-{today()}")
    if args.quick and args.out is None:
        stem = Path("/tmp") / stem.name
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json(stem.with_suffix(".json"), result)
    stem.with_suffix(".md").write_text(report(result))
    log(f"wrote {stem}.json and .md")


def report(result: dict) -> str:
    prov = result["provenance"]
    host = prov.get("hardware", {})
    engines = list(result["cells"][0]["engines"]) if result["cells"] else []
    head = ["task", "algo", "num_envs", "UTD", *(f"{e}: env-steps/s" for e in engines),
            *(f"{e}: updates/s" for e in engines)]
    if engines[:2] == ["c", "jax"]:
        head.append("c / jax")
    rows = []
    for c in result["cells"]:
        r = c["engines"]
        row = [c["task"], c["algo"], c["num_envs"], fmt(c["utd_ratio"]),
               *(fmt(r[e]["env_steps_per_s"]) for e in engines),
               *(fmt(r[e]["updates_per_s"]) for e in engines)]
        if engines[:2] == ["c", "jax"]:
            row.append(fmt(r["c"]["env_steps_per_s"] / r["jax"]["env_steps_per_s"]))
        rows.append(row)
    commit = prov.get("git", {}).get("commit")
    return (f"# Training speed per physics engine (interleaved chunks, median of rounds)\n\n"
            f"{host.get('cpu_model', '?')}, {host.get('cpu_usable', '?')} usable cores; commit "
            f"{commit}; `cpu` trainer preset with the cell's num_envs and UTD\n\n"
            f"{md_table(head, rows)}\n")


if __name__ == "__main__":
    main()
