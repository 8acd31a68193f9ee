"""The run directory's contract: where a run may be started or resumed, and with which config.

A run directory holds one run. Starting where a run exists needs `--resume`; resuming checks the
new config against the run's `config.json`: settings that only change how much is trained or how
often it is logged, evaluated or saved (`SAFE_ON_RESUME`) may change, any other difference is
refused (listing the keys) unless the caller allows it explicitly. Nothing here imports JAX, and
the checks write nothing, so a refusal leaves the directory byte-for-byte unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mjxrsm.config.ranges import flat_items

# Changing these on resume changes the budget or the bookkeeping, not the computation: the
# resumed run is still the same run (bit-exact on CPU up to the old budget).
# `mesh.devices` too: sizes keep their global meaning on any device count, so the algorithm is
# the same (the random streams are not); a checkpoint holding the buffer's per-device rings is
# refused on another count by the checkpointer itself, with the count to use.
SAFE_ON_RESUME = frozenset({
    "total_env_steps", "log_every", "eval_every", "eval_episodes", "checkpoint_every",
    "keep_checkpoints", "keep_checkpoints_every", "tensorboard", "wandb", "preset",
    "mesh.devices",
})
# Settings that only change what is kept or reported about a run, never its numbers.
BOOKKEEPING = frozenset({"keep_checkpoints", "keep_checkpoints_every", "tensorboard", "wandb"})
# Keys added to the config after runs were recorded, with the value that reproduces what those runs
# did: a saved config without the key is read as having this value (so a run recorded before
# scale-out still resumes, and still counts as the same run).
ABSENT_MEANS: dict[str, Any] = {"mesh.devices": 1, "algo.critic_hidden": [], "wandb": False,
                                "keep_checkpoints_every": 0}
CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
KEPT = "mjxrsm-kept"  # marks a checkpoint that `keep_checkpoints_every` keeps for good


class RunDirError(ValueError):
    """A --workdir that cannot be used as asked (nothing was written)."""


def has_run(workdir: Path) -> bool:
    """A run was started here: its config was written (possibly killed before a checkpoint)."""
    ckpt = workdir / CHECKPOINTS
    has_ckpt = ckpt.is_dir() and any(p.name.isdigit() for p in ckpt.iterdir())
    return (workdir / CONFIG_FILE).is_file() or has_ckpt


def check_workdir(workdir: Path, resume: bool) -> None:
    """Raise RunDirError unless a run can be started (or, with `resume`, continued) in
    `workdir`."""
    flag = f"--workdir={workdir}"
    if workdir.exists() and not workdir.is_dir():
        raise RunDirError(f"{flag} is a file, not a directory; choose a directory")
    existing = workdir
    while not existing.exists():  # the first ancestor that exists must be a writable directory
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirError(f"{flag}: {existing} is a file, so the directory cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirError(f"{flag}: {existing} is not writable; choose a writable directory")
    if workdir.is_dir() and (workdir / CHECKPOINTS).exists() and not os.access(
            workdir / CHECKPOINTS, os.W_OK | os.X_OK):
        raise RunDirError(f"{flag}: {workdir / CHECKPOINTS} is not writable")
    run_exists = workdir.is_dir() and has_run(workdir)
    if run_exists and not resume:
        raise RunDirError(f"{flag} already holds a run ({CONFIG_FILE}, {CHECKPOINTS}/); pass "
                          "--resume to continue it, or choose another --workdir")
    if resume and not run_exists:
        raise RunDirError(f"--resume: {flag} holds no run to resume (no {CONFIG_FILE}); drop "
                          "--resume to start one there")


def config_changes(saved: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(safe, unsafe) differences between two configs, as 'key: old -> new' lines."""
    old_flat, new_flat = flat_items(saved), flat_items(new)
    old_flat = {**{k: v for k, v in ABSENT_MEANS.items() if k in new_flat}, **old_flat}
    safe, unsafe = [], []
    for key in sorted(old_flat.keys() | new_flat.keys()):
        old, cur = old_flat.get(key, "<absent>"), new_flat.get(key, "<absent>")
        if same_setting(old, cur):
            continue
        (safe if key in SAFE_ON_RESUME else unsafe).append(f"{key}: {old!r} -> {cur!r}")
    return safe, unsafe


def same_setting(a: Any, b: Any) -> bool:
    """Equal as config values: a tuple and the list JSON turns it into are the same setting."""
    norm = lambda x: list(x) if isinstance(x, tuple) else x
    return norm(a) == norm(b)


def check_resume_config(workdir: Path, config: Any, allow_change: bool) -> list[str]:
    """Refuse resuming `workdir` with a config whose computation differs from its config.json
    (unless `allow_change`); returns the differences that are let through, for the log."""
    path = workdir / CONFIG_FILE
    if not path.is_file():
        return []
    new = json.loads(config.to_json_best_effort())
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        if allow_change:
            return [f"{CONFIG_FILE} unreadable ({e}); replaced"]
        raise RunDirError(f"--resume: {path} is unreadable ({e}); pass --allow_config_change "
                          "to resume with the config given on the command line") from None
    safe, unsafe = config_changes(saved, new)
    if unsafe and not allow_change:
        raise RunDirError(
            f"--resume: the config differs from {path} in settings that change the run: "
            f"{'; '.join(unsafe)}. Resume with the run's own settings, or pass "
            "--allow_config_change to continue with the new ones (the result is then no longer "
            "one uninterrupted run)")
    return safe + unsafe


def write_config(workdir: Path, config: Any) -> None:
    """config.json, replaced atomically (a kill mid-write leaves the old one, never half)."""
    tmp = workdir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(config.to_json_best_effort(indent=2))
    os.replace(tmp, workdir / CONFIG_FILE)
