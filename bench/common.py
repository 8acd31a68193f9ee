"""Shared helpers for the benchmarks: provenance (hardware, versions, git), subprocess isolation,
steady-state timing and memory readings. `--set KEY=VALUE` is read by the library's override
parser (mjxrsm/config/overrides.py), the one the training CLI reads `--config.<key>` with.

The parent process of a benchmark never initialises a JAX backend: on a GPU that would reserve
most of the device memory and starve the worker subprocesses, which do the measuring.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "mujoco", "mujoco-mjx", "brax", "ml-collections",
            "numpy")

S = TypeVar("S")


# ----------------------------------------------------------------------------- provenance


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def host_info() -> dict[str, Any]:
    """CPU model, cores and memory of this machine (no JAX needed)."""
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "cpu_model": cpu.group(1).strip() if cpu else platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "memory_gb": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "load_avg_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
    }


def device_info() -> dict[str, Any]:
    """The JAX device the measurements ran on (call in a worker: this initialises the backend)."""
    import jax

    dev = jax.devices()[0]
    info: dict[str, Any] = {
        "platform": dev.platform,
        "device_kind": dev.device_kind,
        "device_count": jax.device_count(),
    }
    stats = dev.memory_stats() or {}
    if "bytes_limit" in stats:
        info["memory_limit_gb"] = round(stats["bytes_limit"] / 2**30, 2)
    if dev.platform == "gpu":
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                 "--format=csv,noheader"], capture_output=True, text=True, timeout=20,
            )
            info["nvidia_smi"] = out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_info() -> dict[str, Any]:
    """Commit and dirty flag (read-only git calls), so a figure can be traced to its code."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                 timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None
            else None}


def device_slug(device: dict[str, Any]) -> str:
    """A file-name-safe device name: 'cpu' or e.g. 'nvidia-h100-80gb-hbm3'."""
    if device.get("platform") == "cpu":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "-", str(device.get("device_kind", "unknown")).lower()).strip("-")


def today() -> str:
    return _dt.date.today().isoformat()


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def provenance(device: dict[str, Any] | None) -> dict[str, Any]:
    """Everything a results JSON carries besides its figures."""
    return {
        "date": now_iso(),
        "hardware": {**host_info(), "device": device},
        "versions": versions(),
        "git": git_info(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
    }


# ----------------------------------------------------------------------------- configs


def config_to_dict(config) -> dict[str, Any]:
    return json.loads(config.to_json_best_effort())


# ----------------------------------------------------------------------------- workers


# A worker past its timeout gets SIGTERM and this long to stop: a training worker finishes the
# chunk in progress and saves a checkpoint of it (mjxrsm/rundir/stop.py); the slowest chunk on
# record (DPMD on Humanoid-v5, one CPU core) takes about 110 s.
GRACE_S = 300.0


def run_worker(module: str, spec: dict[str, Any], timeout: float | None,
               log_path: Path | None = None,
               env_updates: dict[str, str | None] | None = None,
               grace_s: float = GRACE_S) -> dict[str, Any]:
    """Run `python -m module --worker SPEC OUT` in a fresh process and return its JSON result.

    A fresh process per measurement gives a clean compile (no cache from an earlier cell) and a
    per-measurement peak host memory. A crash, an OOM or a timeout becomes {'error': ...}; past
    its timeout (or on Ctrl-C) the worker is sent SIGTERM and given `grace_s` seconds before
    SIGKILL, and a timed-out result says `timed_out` and keeps what the worker wrote as
    `partial`. `env_updates` sets (or, with None, removes) environment variables of the worker.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    for key, value in (env_updates or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        cmd = [sys.executable, "-m", module, "--worker", str(spec_path), str(out_path)]
        t0 = time.perf_counter()
        with contextlib.ExitStack() as files:
            log_file = files.enter_context(open(log_path, "a")) if log_path else None
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, text=True,
                stdout=log_file if log_file else subprocess.DEVNULL,
                stderr=subprocess.STDOUT if log_file else subprocess.PIPE)
            timed_out = False
            try:
                _, err = proc.communicate(timeout=timeout)
            except (subprocess.TimeoutExpired, KeyboardInterrupt) as e:
                timed_out = isinstance(e, subprocess.TimeoutExpired)
                stop_worker(proc, grace_s)
                if not timed_out:
                    raise
                err = ""
        wall = time.perf_counter() - t0
        result = json.loads(out_path.read_text()) if out_path.exists() else None
        if timed_out:
            ended = ("stopped within its grace period" if result is not None else
                     f"killed after a {grace_s:.0f} s grace period" if proc.returncode == -9
                     else f"exited with code {proc.returncode}")
            return {"error": f"timed out after {timeout:.0f} s ({ended})", "timed_out": True,
                    "worker_wall_s": wall, **({"partial": result} if result is not None else {})}
        if result is not None:
            result.setdefault("worker_wall_s", wall)
            return result
        detail = f"see {log_path}" if log_path else (err or "")[-2000:]
        return {"error": f"worker exited with code {proc.returncode}: {detail}",
                "worker_wall_s": wall}


def stop_worker(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if `proc` has not exited `grace_s` seconds later (or if waiting is
    interrupted): no worker outlives its parent's decision to stop it."""
    proc.terminate()
    try:
        proc.communicate(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def worker_main(argv: list[str], handlers: dict[str, Callable[[dict], dict]]) -> None:
    """Entry point of a worker process: read the spec, dispatch on spec['kind'], write JSON.

    An exception is written as {'error': ...} so the parent records it and moves on."""
    import traceback

    spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text())
    try:
        result = handlers[spec["kind"]](spec)
        result.update(process_usage())
    except Exception as e:  # reported to the parent, not hidden
        traceback.print_exc()
        result = {"error": f"{type(e).__name__}: {e}"}
    Path(out_path).write_text(json.dumps(result, default=to_jsonable))


def to_jsonable(x: Any) -> Any:
    """json.dumps fallback for numpy/jax scalars and arrays."""
    try:
        import numpy as np

        arr = np.asarray(x)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    except Exception:  # any failure: fall back to str
        return str(x)


# ----------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Timing:
    """When a steady-state measurement stops: at least `min_reps` calls and `min_time` seconds,
    at most `max_reps` calls."""

    min_time: float = 3.0
    min_reps: int = 2
    max_reps: int = 50


def block(tree: Any) -> None:
    import jax

    jax.block_until_ready(tree)


def time_steady(step: Callable[[S], S], state: S, timing: Timing) -> tuple[S, list[float]]:
    """Call `state = step(state)` repeatedly (blocking each time) and return the per-call times.

    The first call must already be compiled: compile time is measured separately."""
    times: list[float] = []
    while len(times) < timing.max_reps and (
        len(times) < timing.min_reps or sum(times) < timing.min_time
    ):
        t0 = time.perf_counter()
        state = step(state)
        block(state)
        times.append(time.perf_counter() - t0)
    return state, times


def per_call(times: list[float]) -> float:
    """The median call time: robust to the odd slow call on a shared machine (the mean is kept
    in the JSON too, as `times` lists every call)."""
    ordered = sorted(times)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def compile_timed(jitted, *args) -> tuple[Any, dict[str, float]]:
    """AOT lower + compile, timed separately: compile time without running anything."""
    t0 = time.perf_counter()
    lowered = jitted.lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    return compiled, {"trace_lower_s": t1 - t0, "compile_s": t2 - t1}


def process_usage() -> dict[str, Any]:
    """Peak host memory (this process's max RSS, Linux KiB) and device memory, CPU time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, Any] = {
        "peak_host_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_time_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_device_mb": None,
    }
    if "jax" in sys.modules:
        import jax

        try:
            stats = jax.devices()[0].memory_stats()
        except Exception:  # some backends raise instead of returning None
            stats = None
        if stats and "peak_bytes_in_use" in stats:
            out["peak_device_mb"] = round(stats["peak_bytes_in_use"] / 2**20, 1)
    return out


# ----------------------------------------------------------------------------- output


def write_json(path: Path, obj: Any) -> None:
    """Atomic write (temp file + rename): an interrupted run never leaves half a JSON.

    The temp file's name is unique per call, so two processes writing the same result at once
    each rename a whole file of their own (with one shared name, one could rename the other's
    half-written file, or find its own already gone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, default=to_jsonable)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` (created if missing) for the block.

    For the read-modify-write of a results file that several invocations share: two
    `bench.learning` runs into one directory that end together each rebuild its
    `learning.json` from the cells on disk, and the last writer must have read every cell."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fmt_band(band: tuple[float, float] | None) -> str:
    """A published range as `lo–hi`, one number where a single figure was published."""
    if not band:
        return "-"
    return fmt(band[0]) if band[0] == band[1] else f"{fmt(band[0])}–{fmt(band[1])}"


def fmt(x: Any, digits: int = 3) -> str:
    """Compact number for tables: 3 significant digits, thousands separators, '-' for None."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if x != x:  # NaN
        return "nan"
    ax = abs(x)
    if ax >= 10 ** digits:
        return f"{x:,.0f}"
    if ax == 0:
        return "0"
    return f"{x:.{digits}g}"


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
