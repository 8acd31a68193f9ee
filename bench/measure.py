"""Throughput workers for the fused trainer itself: steady-state `train_chunk` rates (grid and
sweep cells), the official-settings update rate, and the per-update breakdown. Each runs in its
own subprocess (bench/throughput.py plans and launches them)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from bench.common import Timing, config_to_dict, process_usage
from mjxrsm.config.overrides import apply_overrides

# The official implementation's own settings are measured on this task (see OFFICIAL_* in
# bench/throughput_report.py for its figures).
OFFICIAL_ENV = "halfcheetah"


def build_config(env: str, algo: str, preset: str, overrides: dict[str, Any]):
    """get_config('ENV,ALGO,PRESET') + overrides (keys the algorithm lacks are skipped)."""
    from configs.train import get_config

    config = get_config(f"{env},{algo},{preset}")
    applied = apply_overrides(config, overrides)
    config.tensorboard = False
    return config, applied


def _schedule_aligned(config, chunk_iters: int) -> int:
    """Round the chunk length up to whole UTD periods, so every chunk does the same updates."""
    from mjxrsm.core.trainer import UpdateSchedule

    every = UpdateSchedule.from_ratio(config.utd_ratio, config.num_envs).every
    return max(every, -(-chunk_iters // every) * every)


def measure_trainer(config, chunk_iters: int, timing: Timing) -> dict[str, Any]:
    """Steady-state env-steps/s and updates/s of the fused `train_chunk` for `config`."""
    import jax

    from bench.breakdown import random_batch
    from bench.common import compile_timed, per_call, time_steady
    from mjxrsm.config.check import validate
    from mjxrsm.core import replay
    from mjxrsm.core.trainer import make_trainer

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
    from mjxrsm.core.trainer import env_kwargs
    from mjxrsm.envs import make_env

    config, applied = build_config(spec["env"], spec["algo"], spec["preset"], spec["overrides"])
    env = make_env(config.env.name, **env_kwargs(config))
    parts = breakdown(config.algo, env.observation_size, env.action_size, config.num_envs,
                      spec["reps"], Timing(**spec["timing"]))
    return {"breakdown": parts, "config": config_to_dict(config), "applied_overrides": applied}
