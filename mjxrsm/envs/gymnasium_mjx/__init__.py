"""Gymnasium-faithful MuJoCo v5 locomotion tasks, implemented directly on `mujoco.mjx`.

Same model XML (read from the installed Gymnasium package), frame skip, observation layout,
reward terms and weights, healthy/termination rules, reset noise and 1000-step time limit as
Gymnasium 1.x's `*-v5` envs; parity with Gymnasium itself is tested step by step in
`tests/test_gymnasium_parity.py` and measured in `bench/gymnasium_parity.py`. What differs (and
by how much) is in docs/TASKS.md.

    env = make("Hopper-v5")                  # an `mjxrsm.envs.base.Env`
    state = env.reset(jax.random.key(0))
    state = env.step(state, action)          # action in [-1, 1]^env.action_size

Besides Gymnasium's constructor options, `make` accepts:
    impl:                  the physics engine, "auto" | "c" | "jax" | "warp" (envs/engines; auto:
                           C MuJoCo on a CPU, MJX on an accelerator);
    nthread:               the C engine's threads (0: the cores this process may use);
    max_episode_steps:     time limit reported as `episode_length` (default 1000);
    mujoco_contact_frames: MJX builds plane-capsule contact frames like C MuJoCo (default True);
    mjx_solver, mjx_iterations, mjx_ls_iterations: override the XML's constraint solver
                           ("newton" | "cg") and its iteration caps (default: the XML's,
                           except that PGS, which MJX lacks, becomes Newton).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mjxrsm.envs.gymnasium_mjx._core import GymnasiumMJXEnv

# Listing the names must stay cheap (the env registry does it): JAX, MuJoCo and MJX are imported
# only when a task is built or a class below is first used.
TASKS: tuple[str, ...] = (
    "Humanoid-v5",
    "Ant-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Hopper-v5",
    "Swimmer-v5",
)

_LAZY = {
    "GYMNASIUM_TIME_LIMIT": "_core",
    "GymnasiumMJXEnv": "_core",
    "gymnasium_assets_dir": "_core",
    "TASK_CLASSES": "_tasks",
    "Ant": "_tasks",
    "HalfCheetah": "_tasks",
    "Hopper": "_tasks",
    "Humanoid": "_tasks",
    "Swimmer": "_tasks",
    "Walker2d": "_tasks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make(name: str, **kwargs: Any) -> GymnasiumMJXEnv:
    """Build task `name` (one of `TASKS`) with Gymnasium's constructor options as kwargs."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {TASKS}")
    from mjxrsm.envs.gymnasium_mjx._tasks import TASK_CLASSES

    env = TASK_CLASSES[name](**kwargs)
    _ = env.engine  # built now, outside any trace (MJX-Warp's model must not be a tracer)
    return env


def task_class(name: str) -> type:
    """The class `make(name)` builds (its constructor takes Gymnasium's options)."""
    from mjxrsm.envs.gymnasium_mjx._tasks import TASK_CLASSES

    return TASK_CLASSES[name]


__all__ = ["TASKS", "make", "task_class", *_LAZY]
