"""Orbax checkpoints of the whole TrainState (agent, envs, optional replay buffer, RNG, counters).

Orbax writes each step into a temporary directory and renames it when complete, so a kill in
the middle of a save never leaves a checkpoint that loads: a half-written one is not listed.
A checkpoint holds the TrainState as named items (format 2): `agent`, `env`, `obs_stats`,
`key`, `counters` and, optionally, `buffer`, each a nested dict of its arrays keyed by their names
in the state (`agent/params/critic/...`), with a fingerprint per item. Restoring reads them against
the abstract shapes of a freshly initialised state, so a checkpoint from another config fails
loudly, and a reader that needs one item (loading a policy: `agent`, `obs_stats`) reads only it.
Checkpoints of format 1 (one flat list of leaves keyed by position, before 2026-12-06) still
restore and load: `_restore_format_1` and `policy_io`'s reader keep that layout.

Faults (docs/RELIABILITY.md): the temporary directory of a save killed midway is removed when the
run restarts (before Orbax lists the steps); a save that fails (a full disk) raises
CheckpointError naming the last complete checkpoint, which stays; every checkpoint carries a
manifest of its files and a digest of its arrays, so a damaged or truncated one is detected on
restore, moved aside to `checkpoints.unreadable/`, and the one before it is used instead (said on
the run's output).

The leaves are saved as the (possibly sharded) `jax.Array`s themselves: Orbax writes each device's
shard, nothing is gathered to one host for the write, and a restore places every leaf straight
into the sharding of the template's leaf. A replay buffer is one ring per device, so a checkpoint
that holds it resumes only on the device count that wrote it. The digest needs every array on
this host: a multi-process run (whose arrays span hosts) saves without one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from mjxrsm.rundir.workdir import KEPT


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be saved, or restored into this run's state."""


class _Unreadable(CheckpointError):
    """A damaged or truncated checkpoint (an earlier one may be used instead)."""


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


FORMAT = 2
COUNTERS = ("env_steps", "iteration", "updates")


def state_items(state: Any, include_buffer: bool = True) -> dict[str, Any]:
    """The TrainState as its named items (what a checkpoint of format 2 holds); any other pytree
    is one item, `tree`."""
    if not hasattr(state, "agent"):
        return {"tree": state}
    items = {"agent": state.agent, "env": state.env, "obs_stats": state.obs_stats,
             "key": state.key, "counters": {k: getattr(state, k) for k in COUNTERS}}
    if include_buffer:
        items["buffer"] = state.buffer
    return items


def _path_key(path: tuple) -> tuple[str, ...]:
    """A pytree key path as plain names (attribute, dict key or index)."""
    out = []
    for k in path:
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                out.append(str(getattr(k, attr)))
                break
        else:  # pragma: no cover - a key type JAX may add
            out.append(str(k))
    return tuple(out)


def named_leaves(tree: Any) -> dict[tuple[str, ...], Any]:
    """{name path: leaf} of the non-empty leaves (zero-size ones, e.g. MJX's empty contact
    arrays, hold no data and Orbax refuses them: they come from the template on restore)."""
    return {_path_key(path): x for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]
            if np.size(x) > 0}


def nest(flat: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """{('a', 'b'): x} -> {'a': {'b': x}} (what Orbax stores as named arrays)."""
    out: dict[str, Any] = {}
    for path, x in flat.items():
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1] if path else "value"] = x
    return out


def flatten_nested(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple, Any]:
    """The inverse of `nest`."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten_nested(v, (*prefix, k)))
        else:
            out[(*prefix, k) if (prefix or k != "value") else ()] = v
    return out


def _as_saved(x: Any) -> Any:
    return x if isinstance(x, jax.Array) else np.asarray(x)


MANIFEST = "mjxrsm-files.json"  # each file of a step directory: size and hash, written after it


def _file_manifest(step_dir: Path) -> dict[str, list]:
    """Size and hash of every file Orbax wrote for a step: checked before Orbax reads any of them
    (a damaged file read by Orbax's concurrent readers prints their tracebacks, even when the
    failure is handled)."""
    out = {}
    for f in sorted(p for p in step_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        out[str(f.relative_to(step_dir))] = [f.stat().st_size,
                                             hashlib.blake2b(f.read_bytes(), digest_size=16)
                                             .hexdigest()]
    return out


def _digest(leaves: dict[str, np.ndarray]) -> str:
    """A hash of every saved array's bytes: Orbax does not detect flipped or zeroed bytes."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(leaves):
        x = np.ascontiguousarray(leaves[name])
        h.update(f"{name}{x.shape}{x.dtype}".encode())
        h.update(memoryview(x).cast("B"))
    return h.hexdigest()


def _digest_if_local(leaves: dict[str, Any]) -> str | None:
    """`_digest` of the arrays when this process holds all of them (None in a multi-host run)."""
    if any(isinstance(x, jax.Array) and not x.is_fully_addressable for x in leaves.values()):
        return None
    return _digest({k: np.asarray(x) for k, x in leaves.items()})


class Checkpointer:
    """The run's checkpoints: the `keep` latest, plus, with `keep_every` > 0 env steps, the first
    one saved at or after each multiple of `keep_every`, kept for good so that a lever can later
    be forked from a seed's mid-run state (`bench.learning --fork-from`). Only a single-process
    run keeps those; a multi-process one keeps the `keep` latest alone (said on `stream`)."""

    def __init__(self, directory: str | Path, keep: int = 2, include_buffer: bool = True,
                 stream=sys.stdout, keep_every: int = 0):
        self.directory = Path(directory).absolute()
        self.include_buffer = include_buffer
        self.stream = stream  # where a fallback to an earlier checkpoint is reported
        self._keep = keep
        self._keep_every = keep_every if jax.process_count() == 1 else 0
        if keep_every and not self._keep_every:
            print(f"note: keep_checkpoints_every={keep_every} is not applied in a multi-process "
                  f"run; the {keep} latest checkpoints are kept", file=stream, flush=True)
        self._remove_leftovers()
        self._manager = self._open()

    def _remove_leftovers(self) -> None:
        """Delete the temporary directories of saves that never completed (a process killed
        mid-write); done here, synchronously, before Orbax lists the steps. One run writes to
        its directory at a time, so none of them is still being written."""
        if self.directory.is_dir():
            for leftover in self.directory.glob("*.orbax-checkpoint-tmp*"):
                shutil.rmtree(leftover, ignore_errors=True)

    def _reopen(self) -> None:
        """A fresh manager after the directory changed behind Orbax's back (it caches steps)."""
        try:
            self._manager.close()
        except Exception:  # a manager whose save failed may not close cleanly; it is dropped
            pass
        self._manager = self._open()

    def _open(self) -> ocp.CheckpointManager:
        return ocp.CheckpointManager(
            self.directory,
            # With milestones to keep, `_prune` deletes instead of Orbax (which counts them).
            options=ocp.CheckpointManagerOptions(
                max_to_keep=None if self._keep_every else self._keep, create=True),
        )

    def _strip(self, state):
        return state if self.include_buffer else state.replace(buffer=None)

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def is_milestone(self, step: int) -> bool:
        """`step` is the first checkpoint at or after a multiple of `keep_every` (the latest
        checkpoint on disk is the one before it, so resuming decides as the uninterrupted run)."""
        if not self._keep_every:
            return False
        last = self.latest_step() or 0
        return step // self._keep_every > last // self._keep_every

    def kept_steps(self) -> list[int]:
        """The steps kept for good (`keep_every`)."""
        return [s for s in self.all_steps() if (self.directory / str(s) / KEPT).is_file()]

    def _prune(self) -> None:
        """Delete every checkpoint but the `keep` latest and the milestones."""
        steps = sorted(self.all_steps())
        kept = set(self.kept_steps())
        for step in steps[:-self._keep]:
            if step not in kept:
                self._manager.delete(step)

    def save(self, step: int, state, extra: dict | None = None) -> None:
        milestone = self.is_milestone(step)
        items = state_items(state, self.include_buffer)
        named = {name: named_leaves(tree) for name, tree in items.items()}
        digest = _digest_if_local({"/".join((name, *k)): x for name, leaves in named.items()
                                   for k, x in leaves.items()})
        meta = {"format": FORMAT, "step": step, "devices": _num_devices(items),
                "fingerprints": {name: _fingerprint(tree) for name, tree in items.items()},
                "buffer": self.include_buffer, **({"digest": digest} if digest else {}),
                **(extra or {})}
        saves = {name: ocp.args.StandardSave(nest({k: _as_saved(x) for k, x in leaves.items()}))
                 for name, leaves in named.items()}
        try:
            self._manager.save(
                step, args=ocp.args.Composite(**saves, meta=ocp.args.JsonSave(meta)))
            self._manager.wait_until_finished()
            if jax.process_count() == 1:  # hosts write their own shards: no one lists them all
                step_dir = self.directory / str(step)
                if milestone:  # before the manifest, which lists it
                    (step_dir / KEPT).write_text(f"kept for good: the first checkpoint at or "
                                                 f"after a multiple of {self._keep_every}\n")
                tmp = step_dir / f".{MANIFEST}.tmp"  # a kill before the rename: no manifest
                tmp.write_text(json.dumps(_file_manifest(step_dir)))
                tmp.replace(step_dir / MANIFEST)
            if self._keep_every:
                self._prune()
        except Exception as e:  # a full disk, a vanished directory: Orbax raises many types
            self._discard_partial(step)
            last = self.latest_step()
            kept = "none" if last is None else str(self.directory / str(last))
            raise CheckpointError(
                f"saving checkpoint {self.directory / str(step)} failed ({type(e).__name__}: "
                f"{e}); the last complete checkpoint is {kept}. Free space (or fix the cause) "
                "and continue with --resume."
            ) from e

    def _discard_partial(self, step: int) -> None:
        """Remove what a failed save of `step` left (its temporary directory), keep the rest."""
        for leftover in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._reopen()

    def restore(self, template, step: int | None = None):
        """Restore into the structure of `template` (a freshly initialised TrainState).

        Without the buffer in the checkpoint, the template's (empty) buffer is kept. With no
        `step`, the latest checkpoint that reads back intact is used: a damaged later one is
        moved aside and reported on `stream`.
        """
        if step is not None:
            return self._restore_step(template, step)
        steps = sorted(self.all_steps(), reverse=True)
        if not steps:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        for i, candidate in enumerate(steps):
            try:
                return self._restore_step(template, candidate)
            except _Unreadable as e:
                if i + 1 == len(steps):
                    raise CheckpointError(
                        f"{e}; no earlier checkpoint is left to fall back to. Start a fresh run "
                        "in another --workdir.") from e
                moved = self._set_aside(candidate)
                print(f"warning: {e}; moved it to {moved} and fell back to checkpoint "
                      f"{self.directory / str(steps[i + 1])}", file=self.stream, flush=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def _set_aside(self, step: int) -> Path:
        """Move an unreadable step out of the managed directory (kept for inspection), so the
        resumed run can write that step again."""
        target = self.directory.with_name(self.directory.name + ".unreadable")
        target.mkdir(exist_ok=True)
        dest = target / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        shutil.move(str(self.directory / str(step)), dest)
        self._reopen()
        return dest

    def _restore_step(self, template, step: int):
        where = self.directory / str(step)
        check_files(where)
        if (where / "state").is_dir():  # format 1: one flat list of leaves by position
            return self._restore_format_1(template, step)
        items = state_items(template, self.include_buffer)
        targets = {name: named_leaves(tree) for name, tree in items.items()}
        try:
            restored = self._manager.restore(step, args=ocp.args.Composite(
                **{name: ocp.args.StandardRestore(nest({k: _target(x) for k, x in t.items()}))
                   for name, t in targets.items()},
                meta=ocp.args.JsonRestore()))
        except Exception as e:  # orbax raises many types for unreadable files
            detail = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            raise _Unreadable(f"checkpoint {where} is unreadable ({detail})") from e
        meta = restored["meta"]
        for name, tree in items.items():
            if meta.get("fingerprints", {}).get(name) != _fingerprint(tree):
                raise CheckpointError(
                    f"checkpoint {where} was written by a different config (its {name!r} "
                    "differs); resume with the run's own config.json, or start a fresh run")
        self._check_devices(meta, items, where)
        got = {name: flatten_nested(restored[name]) for name in items}
        digest = _digest_if_local({"/".join((name, *k)): got[name][k]
                                   for name, t in targets.items() for k in t})
        if "digest" in meta and digest and meta["digest"] != digest:
            raise _Unreadable(f"checkpoint {where} is damaged (its arrays do not match the digest "
                              "written with them)")
        rebuilt = {}
        for name, tree in items.items():
            paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
            leaves = [_placed(got[name][_path_key(path)]) if np.size(x) > 0 else x
                      for path, x in paths]
            rebuilt[name] = jax.tree.unflatten(treedef, leaves)
        if "tree" in rebuilt:
            return rebuilt["tree"], meta
        counters = rebuilt.pop("counters")
        return template.replace(**rebuilt, **counters), meta

    def _check_devices(self, meta: dict, tree: Any, where: Path) -> None:
        written_on, devices = meta.get("devices", 1), _num_devices(tree)
        if meta.get("buffer", self.include_buffer) and written_on != devices:
            raise CheckpointError(
                f"checkpoint {where} holds the replay buffer as {written_on} per-device ring(s); "
                f"this run has {devices} device(s). Resume with --config.mesh.devices={written_on}"
                ", or start a fresh run (checkpoint_buffer=False checkpoints can be resumed on "
                "any device count)"
            )

    def _restore_format_1(self, template, step: int):
        """A checkpoint written before the named items (its leaves keyed by position)."""
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
            detail = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            raise _Unreadable(f"checkpoint {where} is unreadable ({detail})") from e
        meta = restored["meta"]
        if meta.get("fingerprint") != _fingerprint(tree):
            raise CheckpointError(
                f"checkpoint {where} was written by a different config (state structure differs); "
                "resume with the run's own config.json, or start a fresh run"
            )
        self._check_devices(meta, tree, where)
        new_leaves = [restored["state"][f"{i:05d}"] if np.size(x) > 0 else x
                      for i, x in enumerate(leaves)]
        for old, new in zip(leaves, new_leaves, strict=True):
            if np.shape(old) != np.shape(new):
                raise CheckpointError(f"checkpoint {where}: leaf shape {np.shape(new)} != "
                                      f"{np.shape(old)}")
        saved = {f"{i:05d}": x for i, x in enumerate(new_leaves) if np.size(x) > 0}
        digest = _digest_if_local(saved)
        if "digest" in meta and digest and meta["digest"] != digest:
            raise _Unreadable(f"checkpoint {where} is damaged (its arrays do not match the digest "
                              "written with them)")
        state = jax.tree.unflatten(treedef, [x if isinstance(x, jax.Array) else
                                             jax.numpy.asarray(x) for x in new_leaves])
        if not self.include_buffer:
            state = state.replace(buffer=template.buffer)
        return state, meta

    def close(self) -> None:
        self._manager.close()


def _placed(x: Any) -> Any:
    return x if isinstance(x, jax.Array) else jax.numpy.asarray(x)


def check_files(step_dir: Path) -> None:
    """Raise CheckpointError if a file of the step changed since it was written (checkpoints
    saved before manifests existed, or killed before theirs, are left to Orbax). Reads only."""
    path = step_dir / MANIFEST
    if not path.is_file():
        return
    try:
        expected = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise _Unreadable(f"checkpoint {step_dir} has an unreadable {MANIFEST} ({e})") from e
    found = _file_manifest(step_dir)
    bad = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
    if bad:
        raise _Unreadable(f"checkpoint {step_dir} is damaged: {len(bad)} file(s) differ from "
                          f"when it was written ({', '.join(bad[:3])})")
