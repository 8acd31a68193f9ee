"""What a run leaves behind and shows: a progress line per chunk, CSV and TensorBoard logs of every
metric, `summary.json` and a learning-curve PNG in the run directory."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def start_line(config: Any, workdir: Path) -> str:
    """What a user needs to know at start-up, in place of the third-party noise (quiet.py)."""
    import jax

    device = jax.devices()[0]
    return (
        f"mjxrsm: {config.algo.name} on {config.env.name}, preset {config.preset}, "
        f"{config.num_envs} envs, {config.total_env_steps:,} env steps after "
        f"{config.start_steps:,} random warm-up steps\n"
        f"device: {device.platform} ({device.device_kind}) x{jax.device_count()} | "
        f"run directory: {Path(workdir).absolute()}"
    )


def _step(row: list[str]) -> float:
    """A row's env step; a garbled one (a kill mid-write) sorts after every step, so it is
    dropped."""
    try:
        return float(row[0])
    except ValueError:
        return math.inf


LONG_RUN_S = 6 * 3600  # a run this long gets told how to make a shorter one
SHORT_RUN_S = 2 * 3600


def long_run_note(step: int, total: int, env_sps: float, eta_s: float) -> str | None:
    """One line for a run that will take more than `LONG_RUN_S` at its measured pace: what this
    machine manages, and the budget that ends in about two hours."""
    if not (LONG_RUN_S < eta_s < math.inf) or env_sps <= 0:
        return None
    budget = max(int(round(step + env_sps * SHORT_RUN_S, -4)), 10_000)
    return (f"note: this machine manages {env_sps:,.0f} env-steps/s here, so the run ends in "
            f"{_fmt_time(eta_s)}; --config.total_env_steps={budget} ends in about 2 h (a GPU "
            "runs the `parallel` preset)")


class Reporter:
    def __init__(self, workdir: Path, total_env_steps: int, tensorboard: bool = True,
                 stream=sys.stdout, sink: Any = None):
        """`sink`: an optional extra destination (`wandb_log.WandbSink`)."""
        self._progress_calls = 0
        self.workdir = Path(workdir)
        self.sink = sink
        self.total = total_env_steps
        self.stream = stream
        self._csv: dict[str, tuple] = {}
        self._tb = None
        self._tensorboard = tensorboard
        self._purge_step: int | None = None  # set by `rewind`
        self.evals: list[tuple[int, float, float]] = []
        self.last_eval = float("nan")
        self._t0 = time.time()

    def _write_csv(self, name: str, row: dict) -> None:
        path = self.workdir / f"{name}.csv"
        if name not in self._csv:
            new = not path.exists()
            f = path.open("a", newline="")
            if not new:  # resumed run: keep the existing header's columns
                with path.open() as r:
                    fields = next(csv.reader(r), list(row))
            else:
                fields = list(row)
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            self._csv[name] = (f, w)
        f, w = self._csv[name]
        w.writerow(row)
        f.flush()

    def rewind(self, step: int) -> None:
        """Continue the logs of a run that restarts at env step `step` (a resume, or a restart of
        a run killed before its first checkpoint): rows written after `step` came from training
        that the restart repeats, so they move to `<name>.csv.after-<step>` (kept, not deleted)
        and the evaluations already logged are read back for the summary and the curve.

        Kill-safe: the kept rows are written to a temporary file, the old file is copied aside,
        then the temporary file replaces it (a kill in between leaves the old file, and the next
        rewind repeats the move). A row cut short by a kill is dropped. TensorBoard is told to
        purge its events after `step` (tensorboardX's purge_step). The wall clock continues from
        the last kept row, so `wall_time` (and the summary's) is the run's time to each step
        across restarts; the repeated stretch and the restart's compile count once."""
        self._purge_step = step + 1
        elapsed = 0.0
        for name in ("train", "eval"):
            path = self.workdir / f"{name}.csv"
            if name in self._csv or not path.exists():
                continue
            with path.open(newline="") as f:
                rows = list(csv.reader(f))
            if not rows:
                continue
            header, body = rows[0], rows[1:]
            keep = [r for r in body if len(r) == len(header) and _step(r) <= step]
            if keep and "wall_time" in header:
                elapsed = max(elapsed, float(keep[-1][header.index("wall_time")]))
            if len(keep) < len(body):
                tmp = path.with_name(f"{name}.csv.tmp")
                with tmp.open("w", newline="") as f:
                    csv.writer(f).writerows([header, *keep])
                shutil.copyfile(path, path.with_name(f"{name}.csv.after-{step}"))
                tmp.replace(path)
            if name == "eval":
                col = {k: i for i, k in enumerate(header)}
                self.evals = [(int(float(r[0])), float(r[col["eval/return_mean"]]),
                               float(r[col["eval/return_std"]])) for r in keep]
                if self.evals:
                    self.last_eval = self.evals[-1][1]
        self._t0 = time.time() - elapsed

    def elapsed(self) -> float:
        """Seconds of this run so far, including earlier processes' (see `rewind`)."""
        return time.time() - self._t0

    def log(self, kind: str, step: int, metrics: dict[str, float]) -> None:
        row = {"env_steps": step, "wall_time": round(self.elapsed(), 3), **metrics}
        self._write_csv(kind, row)
        if self._tensorboard and self._tb is None:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.workdir / "tb"), purge_step=self._purge_step)
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(k if "/" in k else f"{kind}/{k}", v, step)
        if self.sink is not None:
            self.sink.log(kind, step, metrics)
        if kind == "eval":
            self.last_eval = metrics["eval/return_mean"]
            self.evals.append((step, metrics["eval/return_mean"], metrics["eval/return_std"]))

    def progress(self, step: int, env_sps: float, ups: float) -> None:
        frac = min(step / max(self.total, 1), 1.0)
        eta = max(self.total - step, 0) / env_sps if env_sps > 0 else float("inf")
        if self.sink is not None:
            self.sink.log_sps(step, env_sps)
        last = "none yet" if math.isnan(self.last_eval) else f"{self.last_eval:.1f}"
        print(
            f"[{100 * frac:5.1f}%] env steps {step:,}/{self.total:,} | {env_sps:,.0f} env-steps/s"
            f" | {ups:,.1f} updates/s | eval return {last}"
            f" | elapsed {_fmt_time(self.elapsed())} | ETA {_fmt_time(eta)}",
            file=self.stream,
            flush=True,
        )
        self._progress_calls += 1
        note = long_run_note(step, self.total, env_sps, eta)
        if self._progress_calls == 2 and note:  # the first call's pace includes the compile
            print(note, file=self.stream, flush=True)

    def finish(self, summary: dict) -> None:
        tmp = self.workdir / ".summary.json.tmp"  # replaced atomically: a kill leaves the old one
        tmp.write_text(json.dumps(summary, indent=2, default=float))
        tmp.replace(self.workdir / "summary.json")
        self.plot()
        for f, _ in self._csv.values():
            f.close()
        if self._tb is not None:
            self._tb.close()
        if self.sink is not None:
            self.sink.finish()

    def plot(self) -> None:
        if not self.evals:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps, mean, std = zip(*self.evals, strict=True)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(steps, mean, marker="o")
        ax.fill_between(steps, [m - s for m, s in zip(mean, std, strict=True)],
                        [m + s for m, s in zip(mean, std, strict=True)], alpha=0.2)
        ax.set_xlabel("env steps (after warm-up)")
        ax.set_ylabel("eval return (mean ± sd over episodes)")
        ax.set_title(self.workdir.name)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(self.workdir / "learning_curve.png", dpi=100)
        plt.close(fig)
