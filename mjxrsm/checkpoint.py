"""Orbax checkpoints of the whole TrainState (agent, envs, optional replay buffer, RNG, counters).

Orbax writes each step into a temporary directory and renames it when complete, so a kill in
the middle of a save never leaves a checkpoint that loads: a half-written one is not listed.
We store the state's leaves (with a fingerprint of the tree structure) and restore them into the
structure of a freshly initialised state, so a checkpoint from another config fails loudly.

The leaves are saved as the (possibly sharded) `jax.Array`s themselves: Orbax writes each device's
shard, nothing is gathered to one host, and a restore places every leaf straight into the
sharding of the template's leaf. A replay buffer is one ring per device, so a checkpoint that holds
it resumes only on the device count that wrote it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be restored into this run's state."""


def _fingerprint(tree: Any) -> str:
    """A hash of the state's layout: every leaf's key path, shape and dtype.

    Not `str(treedef)`: MJX keeps static numpy arrays in its pytree metadata, whose repr holds
    memory addresses, so it differs between processes and a resumed run would be refused."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    desc = "|".join(f"{jax.tree_util.keystr(path)}{_shape_dtype(x)}" for path, x in leaves)
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


def _num_devices(tree: Any) -> int:
    """The devices the state is laid out over (1 for host arrays)."""
    sets = [len(x.sharding.device_set) for x in jax.tree.leaves(tree) if hasattr(x, "sharding")]
    return max(sets, default=1)


def _target(x: Any) -> Any:
    """What Orbax restores a leaf as: an array of the template leaf's shape, dtype and sharding."""
    if isinstance(x, jax.Array):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
    return np.asarray(x)


def _shape_dtype(x: Any) -> str:
    if not hasattr(x, "dtype"):
        x = np.asarray(x)
    return f"{tuple(x.shape)}{x.dtype}"


class Checkpointer:
    def __init__(self, directory: str | Path, keep: int = 2, include_buffer: bool = True):
        self.directory = Path(directory).absolute()
        self.include_buffer = include_buffer
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def _strip(self, state):
        return state if self.include_buffer else state.replace(buffer=None)

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state, extra: dict | None = None) -> None:
        tree = self._strip(state)
        # Zero-size leaves (e.g. empty contact arrays in MJX state) hold no data and Orbax
        # refuses them; they are taken from the template on restore.
        leaves = {f"{i:05d}": x if isinstance(x, jax.Array) else np.asarray(x)
                  for i, x in enumerate(jax.tree.leaves(tree)) if np.size(x) > 0}
        meta = {"fingerprint": _fingerprint(tree), "step": step, "devices": _num_devices(tree),
                "buffer": self.include_buffer, **(extra or {})}
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(leaves), meta=ocp.args.JsonSave(meta)
            ),
        )
        self._manager.wait_until_finished()

    def restore(self, template, step: int | None = None):
        """Restore into the structure of `template` (a freshly initialised TrainState).

        Without the buffer in the checkpoint, the template's (empty) buffer is kept.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        tree = self._strip(template)
        leaves, treedef = jax.tree.flatten(tree)
        where = self.directory / str(step)
        try:
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(
                        {f"{i:05d}": _target(x) for i, x in enumerate(leaves) if np.size(x) > 0}
                    ),
                    meta=ocp.args.JsonRestore(),
                ),
            )
        except Exception as e:  # orbax raises many types for unreadable files
            raise CheckpointError(
                f"checkpoint {where} is unreadable ({type(e).__name__}: {e}). Delete that step "
                f"directory to fall back to an earlier one (available: {self.all_steps()}), or "
                "start a fresh run in another --workdir."
            ) from e
        meta = restored["meta"]
        if meta.get("fingerprint") != _fingerprint(tree):
            raise CheckpointError(
                f"checkpoint {where} was written by a different config (state structure differs); "
                "resume with the run's own config.json, or start a fresh run"
            )
        written_on, devices = meta.get("devices", 1), _num_devices(tree)
        if meta.get("buffer", self.include_buffer) and written_on != devices:
            raise CheckpointError(
                f"checkpoint {where} holds the replay buffer as {written_on} per-device ring(s); "
                f"this run has {devices} device(s). Resume with --config.mesh.devices={written_on}"
                ", or start a fresh run (checkpoint_buffer=False checkpoints can be resumed on "
                "any device count)"
            )
        new_leaves = [restored["state"][f"{i:05d}"] if np.size(x) > 0 else x
                      for i, x in enumerate(leaves)]
        for old, new in zip(leaves, new_leaves, strict=True):
            if np.shape(old) != np.shape(new):
                raise CheckpointError(f"checkpoint {where}: leaf shape {np.shape(new)} != "
                                      f"{np.shape(old)}")
        state = jax.tree.unflatten(treedef, [x if isinstance(x, jax.Array) else
                                             jax.numpy.asarray(x) for x in new_leaves])
        if not self.include_buffer:
            state = state.replace(buffer=template.buffer)
        return state, meta

    def close(self) -> None:
        self._manager.close()
