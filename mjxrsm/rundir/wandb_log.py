"""Optional Weights & Biases logging (`--config.wandb=True`; off by default).

`wandb` is an optional extra (`pip install -e ".[wandb]"`), imported only when asked for. Offline
by default unless an API key is configured (WANDB_API_KEY or `WANDB_MODE=online`), so a machine
without network never blocks: offline runs land in `<run>/wandb/` for a later `wandb sync`. A
failure to start W&B is a warning, never the end of a training run.

Metric names follow Brax's where the two overlap, so dashboards built for Brax runs read ours:
eval/return_mean -> eval/episode_reward, eval/return_std -> eval/episode_reward_std,
eval/length_mean -> eval/avg_episode_length, env steps per second -> training/sps; every other
training metric is logged as `training/<name>`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

BRAX_NAMES = {
    "eval/return_mean": "eval/episode_reward",
    "eval/return_std": "eval/episode_reward_std",
    "eval/length_mean": "eval/avg_episode_length",
}


def brax_name(kind: str, name: str) -> str:
    """Our metric name -> the name W&B shows (Brax's where it has one)."""
    if name in BRAX_NAMES:
        return BRAX_NAMES[name]
    if kind == "train":
        return "training/" + name.removeprefix("train/")
    return name if "/" in name else f"{kind}/{name}"


def _mode() -> str:
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


class WandbSink:
    """Mirrors the Reporter's metrics to a W&B run."""

    def __init__(self, workdir: Path, config: dict[str, Any], project: str = "mjxrsm"):
        self._run = None
        try:
            import wandb
        except ImportError:
            warnings.warn("wandb=True but wandb is not installed (pip install -e '.[wandb]'); "
                          "logging to CSV/TensorBoard only", stacklevel=2)
            return
        try:
            self._run = wandb.init(project=project, name=Path(workdir).name, dir=str(workdir),
                                   config=config, mode=_mode(), resume="allow")
        except Exception as e:  # network, auth, ...: never fatal to training
            warnings.warn(f"W&B disabled: {type(e).__name__}: {e}", stacklevel=2)

    def log(self, kind: str, step: int, metrics: dict[str, float]) -> None:
        if self._run is not None:
            self._run.log({brax_name(kind, k): v for k, v in metrics.items()}, step=step)

    def log_sps(self, step: int, env_sps: float) -> None:
        if self._run is not None:
            self._run.log({"training/sps": env_sps}, step=step)

    def finish(self) -> None:
        if self._run is not None:
            self._run.finish()
