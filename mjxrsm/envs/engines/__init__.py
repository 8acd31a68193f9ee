"""Physics engines behind one seam: `--config.env.impl=auto|jax|warp|c`.

    jax   MJX's JAX implementation: XLA on any backend (the accelerator path).
    warp  MJX's Warp implementation (MuJoCo Warp through JAX FFI; NVIDIA GPUs, Warp's CPU backend
          for tests). Needs the `warp-lang` package.
    c     MuJoCo's C engine (`mujoco.batch`) called from the jitted scan: the CPU path, ~50x MJX
          on a CPU, and Gymnasium's own dynamics (c_engine.py).
    auto  `c` on a CPU, `jax` on an accelerator, for the tasks that run on both.

An engine turns a model into `init(qpos, qvel) -> physics`, `step(physics, ctrl) -> physics`,
`fields(physics) -> Fields` (what the task reads), `diverged(physics)` and `info(physics)`; the
trainer, agents, replay, checkpoints and evaluation never see which one runs. Listing and checking
the names imports neither JAX nor MuJoCo.
"""

from __future__ import annotations

import importlib.util
from typing import Any

AUTO = "auto"
IMPLS: tuple[str, ...] = (AUTO, "jax", "warp", "c")


def check_impl(task: str, impl: str, supported: tuple[str, ...]) -> None:
    """Raise ValueError (one line) unless `impl` is an engine this task can run on, here."""
    if impl not in IMPLS:
        raise ValueError(f"env.impl={impl!r} is not an engine; choose one of {list(IMPLS)}")
    if impl != AUTO and impl not in supported:
        raise ValueError(f"env.impl={impl!r}: task {task!r} runs on {list(supported)} only")
    if impl == "warp" and importlib.util.find_spec("warp") is None:
        raise ValueError("env.impl='warp' needs MuJoCo Warp's runtime: pip install warp-lang "
                         "(or use env.impl=jax)")


def resolve_impl(task: str, impl: str, supported: tuple[str, ...]) -> str:
    """The engine `impl` means on this machine (imports JAX to see the backend)."""
    import jax

    check_impl(task, impl, supported)
    backend = jax.default_backend()
    if impl == AUTO:
        return "c" if backend == "cpu" and "c" in supported else supported[0]
    if impl == "c" and backend != "cpu":
        raise ValueError(f"env.impl='c' steps MuJoCo on the host: on the {backend} every step "
                         "would copy all envs across the bus; use env.impl=jax or warp there "
                         "(or JAX_PLATFORMS=cpu to train on the CPU)")
    return impl


def make_engine(impl: str, mj_model: Any, frame_skip: int, fields: tuple[str, ...],
                contact_frames: bool = True, nthread: int = 0) -> Any:
    """The engine `impl` (already resolved) for `mj_model`."""
    if impl == "c":
        from mjxrsm.envs.engines.c_engine import CEngine

        return CEngine(mj_model, frame_skip, fields, nthread=nthread)
    from mjxrsm.envs.engines.mjx_engine import MJXEngine

    return MJXEngine(mj_model, frame_skip, fields, impl=impl, contact_frames=contact_frames)
