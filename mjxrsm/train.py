"""The host loop and CLI.

    python -m mjxrsm.train --config=configs/train.py:humanoid,dpmd --workdir=runs/x \
        --config.algo.lr=1e-4 [--resume]

The host only schedules: it calls the jitted `train_chunk` (trainer.py), and between chunks it
checks the metrics for NaN/Inf, logs, evaluates and checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ml_collections import ConfigDict

from mjxrsm.config.check import advisories, validate
from mjxrsm.rundir.stop import StopRequest, exit_code, stop_on_signals
from mjxrsm.rundir.workdir import check_resume_config, check_workdir, write_config

if TYPE_CHECKING:
    from absl.flags import FlagValues

# JAX, Orbax and the trainer are imported inside `run`, after the input is checked: bad input is
# refused in a second, before anything is imported, compiled or written.


class TrainingDivergedError(RuntimeError):
    """A metric became NaN/Inf; the last good checkpoint is kept untouched."""


def check_finite(metrics: dict[str, float], step: int, last_checkpoint: str) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        name, value = next(iter(bad.items()))
        raise TrainingDivergedError(
            f"training diverged: {name} = {value} at env step {step:,} (non-finite: "
            f"{sorted(bad)}). Nothing from this chunk was saved; the last good checkpoint is "
            f"{last_checkpoint}. Try a lower learning rate (--config.algo.lr, "
            "--config.algo.critic_lr) or --config.normalize_obs=True, with --resume "
            "--allow_config_change to continue from that checkpoint."
        )


def _prepare_workdir(workdir: Path, config: ConfigDict, resume: bool, allow_change: bool,
                     stream) -> None:
    """Refuse a workdir or a resume config that does not fit (rundir/workdir.py), then write
    config.json."""
    try:
        check_workdir(workdir, resume)
    except ValueError as e:
        raise FileExistsError(str(e)) from None
    changed = check_resume_config(workdir, config, allow_change) if resume else []
    if changed:
        print(f"resuming with changed settings: {'; '.join(changed)}", file=stream, flush=True)
    # --multihost: every process checks the directory before any writes to it (otherwise the
    # first to write config.json makes the others see "a run already here"), and only process 0
    # writes; the others go on once the directory exists. JAX is already initialised then.
    jax = sys.modules.get("jax")
    multi = jax is not None and jax.process_count() > 1
    if multi:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("mjxrsm: workdir checked")
    if not multi or jax.process_index() == 0:
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            write_config(workdir, config)
        except OSError as e:  # e.g. a dangling symlink on the way, a read-only mount
            raise FileExistsError(f"--workdir={workdir}: cannot write the run there "
                                  f"({e.strerror or e}); choose another --workdir") from None
    if multi:
        multihost_utils.sync_global_devices("mjxrsm: workdir written")


def run(config: ConfigDict, workdir: str | Path, resume: bool = False,
        max_chunks: int | None = None, stream=sys.stdout,
        allow_config_change: bool = False, stop: StopRequest | None = None) -> dict:
    """Train according to `config` in `workdir`; returns the summary (also in summary.json).

    `max_chunks` stops early after that many training chunks (tests, quick looks); the run can
    be continued later with `resume=True`. Resuming with settings that change the computation
    (run_dir.SAFE_ON_RESUME lists those that do not) needs `allow_config_change`.
    A stop request ends the run after the chunk in progress, with a checkpoint of its step and
    `summary["stopped"]` saying what asked (rundir/stop.py): `stop`, set by the caller, or by
    default SIGTERM or a first Ctrl-C (one process; with --multihost the signals keep their
    usual effect, since one process stopping alone would leave the others waiting).
    """
    from mjxrsm.cli.quiet import quiet_third_party

    quiet_third_party()  # before anything imports MJX or Brax
    validate(config)
    for note in advisories(config):
        print(f"note: {note}", file=stream, flush=True)
    workdir = Path(workdir)
    _prepare_workdir(workdir, config, resume, allow_config_change, stream)

    import jax
    from absl import logging as absl_logging

    from mjxrsm.rundir.reporting import start_line

    absl_logging.set_verbosity(absl_logging.WARNING)  # orbax logs every save at INFO
    print(start_line(config, workdir), file=stream, flush=True)
    if stop is not None:
        return _train(config, workdir, resume, max_chunks, stream, stop)
    if jax.process_count() > 1:
        return _train(config, workdir, resume, max_chunks, stream, StopRequest())
    with stop_on_signals(StopRequest()) as own:
        return _train(config, workdir, resume, max_chunks, stream, own)


def _train(config: ConfigDict, workdir: Path, resume: bool, max_chunks: int | None, stream,
           stop: StopRequest) -> dict:
    """`run` after the input checks: build, restore or warm up, then the chunk loop."""
    import jax

    from mjxrsm.core.trainer import make_trainer
    from mjxrsm.rundir.checkpoint import Checkpointer
    from mjxrsm.rundir.reporting import Reporter
    from mjxrsm.rundir.stall import StallWatch
    from mjxrsm.rundir.wandb_log import WandbSink

    trainer = make_trainer(config)
    n = trainer.num_devices
    if n > 1:
        print(f"data parallel over {n} devices ({jax.process_count()} process(es)): "
              f"{config.num_envs // n} envs, {config.algo.batch_size // n}-row batches and a "
              f"{config.replay_capacity // n}-row replay ring per device", file=stream, flush=True)
    ckpt = Checkpointer(workdir / "checkpoints", config.keep_checkpoints, config.checkpoint_buffer,
                        stream, keep_every=config.get("keep_checkpoints_every", 0))
    if jax.process_index() == 0:
        sink = WandbSink(workdir, config.to_dict()) if config.get("wandb", False) else None
        reporter = Reporter(workdir, config.total_env_steps, config.tensorboard, stream, sink)
    else:  # --multihost: one process logs; the others compute and save their shards
        aside = workdir / f".process-{jax.process_index()}"
        aside.mkdir(exist_ok=True)
        reporter = Reporter(aside, config.total_env_steps, False, open(os.devnull, "w"))
    warmup_steps = trainer.warmup_iters * config.num_envs
    chunk_steps = trainer.env_steps_per_chunk

    watch = StallWatch(stream)
    state = trainer.init(jax.random.PRNGKey(config.seed))
    if resume and ckpt.latest_step() is not None:
        state, meta = ckpt.restore(state)
        print(f"resumed from {ckpt.directory / str(meta['step'])}", file=stream, flush=True)
        if not config.checkpoint_buffer:  # refill the empty buffer, keep the counters
            counters = (state.env_steps, state.iteration)
            state, _ = trainer.warmup_chunk(state)
            state = state.replace(env_steps=counters[0], iteration=counters[1])
    elif config.start_steps > 0:
        print(f"compiling and collecting {warmup_steps:,} random warm-up steps ...",
              file=stream, flush=True)
        with watch.chunk("warm-up"):
            state, _ = jax.block_until_ready(trainer.warmup_chunk(state))

    def last_ckpt() -> str:
        latest = ckpt.latest_step()
        return "none (no checkpoint yet)" if latest is None else str(ckpt.directory / str(latest))

    def trained(s) -> int:
        return trainer.env_steps(s) - warmup_steps

    def evaluate(s, step: int) -> None:
        key = jax.random.fold_in(jax.random.PRNGKey(config.seed + 10_007), step)
        metrics = {k: float(v) for k, v in jax.device_get(trainer.evaluate(s, key)).items()}
        check_finite(metrics, step, last_ckpt())
        reporter.log("eval", step, metrics)

    step = trained(state)
    reporter.rewind(step)
    next_eval = (step // config.eval_every + 1) * config.eval_every
    next_ckpt = (step // config.checkpoint_every + 1) * config.checkpoint_every
    chunks, t_prev, s_prev, u_prev = 0, time.time(), step, trainer.updates(state)
    compile_s = None
    print(f"compiling the training chunk ({trainer.iters_per_chunk} iterations x "
          f"{config.num_envs} envs, {trainer.schedule.per_iter} update(s) every "
          f"{trainer.schedule.every} iteration(s)) ...", file=stream, flush=True)
    while step < config.total_env_steps and (max_chunks is None or chunks < max_chunks) \
            and not stop:
        t_chunk = time.time()
        with watch.chunk("training chunk"):
            state, metrics = trainer.train_chunk(state)
            metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        step, chunks = trained(state), chunks + 1
        if compile_s is None:
            compile_s = time.time() - t_chunk
        check_finite(metrics, step, last_ckpt())
        reporter.log("train", step, metrics)
        if step >= next_eval or step >= config.total_env_steps:
            evaluate(state, step)
            next_eval = (step // config.eval_every + 1) * config.eval_every
        if step >= next_ckpt or step >= config.total_env_steps:
            ckpt.save(step, state, {"env_steps": step})
            next_ckpt = (step // config.checkpoint_every + 1) * config.checkpoint_every
        now = time.time()
        updates = trainer.updates(state)
        dt = max(now - t_prev, 1e-9)
        reporter.progress(step, (step - s_prev) / dt, (updates - u_prev) / dt)
        t_prev, s_prev, u_prev = now, step, updates
    stopped = bool(stop) and step < config.total_env_steps
    if not stopped and (not reporter.evals or reporter.evals[-1][0] != step):
        evaluate(state, step)  # every run ends with an evaluation of its final policy
    if ckpt.latest_step() != step:
        ckpt.save(step, state, {"env_steps": step})
    ckpt.close()
    if stopped:  # no extra evaluation: a stop has a grace period to keep, and resumes on grid
        print(f"stopped on request ({stop.reason}) at env step {step:,}, with a checkpoint of "
              f"it: continue with --resume --workdir={workdir}", file=stream, flush=True)

    wall = reporter.elapsed()  # across resumes
    evals = reporter.evals
    summary = {
        "env": config.env.name,
        "algo": config.algo.name,
        "preset": config.preset,
        "seed": config.seed,
        "env_steps": step,
        "warmup_env_steps": warmup_steps,
        "gradient_updates": trainer.updates(state),
        "wall_time_s": wall,
        "first_chunk_s_incl_compile": compile_s,
        "env_steps_per_chunk": chunk_steps,
        "final_eval_return": evals[-1][1] if evals else None,
        "best_eval_return": max(e[1] for e in evals) if evals else None,
        "evals": [{"env_steps": s, "return_mean": m, "return_std": sd} for s, m, sd in evals],
        "device": str(jax.devices()[0].device_kind),
        "devices": n,
        "processes": jax.process_count(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "finished": step >= config.total_env_steps,
        "stopped": stop.reason if stopped else None,
    }
    reporter.finish(summary)
    return summary


def define_flags(argv: list[str]) -> FlagValues:
    """The CLI's flags, in a fresh absl FlagValues (the config flag reads its overrides from
    `argv`)."""
    from absl import flags

    from mjxrsm.cli import input as cli_input

    fv = flags.FlagValues()
    cli_input.define_config_flag(fv, argv)
    flags.DEFINE_string("workdir", None, "Run directory (default runs/ENV-ALGO-SEED).",
                        flag_values=fv)
    flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its last checkpoint.",
                      flag_values=fv)
    flags.DEFINE_bool("allow_config_change", False, "With --resume: continue even though the "
                      "config changes settings that alter the run (listed otherwise).",
                      flag_values=fv)
    flags.DEFINE_integer("max_chunks", None, "Stop after this many training chunks.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_bool("multihost", False, "One process per host (same command on every host): "
                      "jax.distributed.initialize() finds SLURM/Open MPI/k8s, or reads "
                      "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.",
                      flag_values=fv)
    return fv


def cli(argv: list[str] | None = None) -> None:
    """`python -m mjxrsm.train`: bad input exits 2 with one `error:` line before JAX is imported
    (cli_input.py); a fault during training (divergence, an unusable checkpoint, a full disk)
    exits 1 with one `error:` line saying what was kept."""
    from absl import flags

    from mjxrsm.cli import input as cli_input

    argv = list(sys.argv if argv is None else argv)
    fv = define_flags(argv)
    try:
        req = cli_input.parse(fv, argv)
    except cli_input.UsageError as e:
        cli_input.refuse(e)
    flags.FLAGS.mark_as_parsed()  # absl logging (Orbax) expects parsed global flags
    if fv.multihost:
        from mjxrsm.core.sharding import initialize_multihost

        initialize_multihost()
    try:
        summary = run(req.config, req.workdir, req.resume, req.max_chunks,
                      allow_config_change=req.allow_config_change)
    except (ValueError, FileExistsError) as e:  # input found bad only now (e.g. a race)
        cli_input.refuse(e)
    except (TrainingDivergedError, RuntimeError, OSError) as e:
        print(f"error: {cli_input.one_line(str(e))}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"error: interrupted; continue with --resume --workdir={req.workdir} (from its last "
              "checkpoint)", file=sys.stderr, flush=True)
        sys.exit(130)
    print(json.dumps({k: v for k, v in summary.items() if k != "evals"}, indent=2,
                     default=float))
    if summary["stopped"]:  # stopped on a signal, checkpoint saved: not finished, say so
        sys.exit(exit_code(summary["stopped"]))


if __name__ == "__main__":
    cli()
