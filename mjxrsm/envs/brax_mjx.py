"""Brax's locomotion/manipulation tasks on the MJX backend, adapted to our `Env` protocol.

Uses the raw `brax.envs.get_environment(name, backend='mjx')` env without Brax's own wrappers:
time limit, auto-reset and vmap come from `mjxrsm.envs.wrappers` and the trainer.

The mapping onto our `Env` is `mjxrsm.envs.adapter.SuiteEnv`'s; the whole Brax `State`
(pipeline state plus Brax's own info, e.g. `time_out`) is kept opaque in `physics`.

Brax is imported only when an env is built, because importing it takes seconds.

Brax quirks worth knowing:
- `swimmer` (`brax_swimmer` here) only supports Brax's 'generalized' backend; it raises here
  with a clear message.
- Actions are passed through unscaled. Brax rescales [-1, 1] to the actuator range only for
  `inverted_pendulum` (range [-3, 3]); `humanoid`/`humanoidstandup` have ctrlrange [-0.4, 0.4] and
  `pusher` [-2, 2], so MJX clamps humanoid actions beyond +-0.4 and pusher reaches only half its
  range. This is the convention Brax's own training code uses, so returns stay comparable.
"""

from __future__ import annotations

from typing import Any

from mjxrsm.envs import catalog
from mjxrsm.envs.adapter import SuiteEnv

TASKS, UNSUPPORTED = catalog.BRAX_TASKS, catalog.BRAX_UNSUPPORTED

DEFAULT_EPISODE_LENGTH = 1000


class BraxMjxEnv(SuiteEnv):
    """One Brax MJX task as an `Env`; extra kwargs go to the Brax env constructor."""

    def __init__(self, name: str, episode_length: int = DEFAULT_EPISODE_LENGTH, **kwargs: Any):
        if name in UNSUPPORTED:
            raise ValueError(UNSUPPORTED[name])
        if name not in TASKS:
            raise ValueError(f"unknown Brax task {name!r}; choose from {TASKS}")
        from brax import envs as brax_envs  # slow import, keep it lazy

        self.name = name
        inner = brax_envs.get_environment(brax_name(name), backend="mjx", **kwargs)
        self._bind(inner, episode_length)

    @property
    def mj_model(self) -> Any:
        return self.inner.sys.mj_model


def brax_name(name: str) -> str:
    """Brax's own name of task `name` (`brax_humanoid` -> `humanoid`: envs/catalog.py)."""
    return name.removeprefix(catalog.BRAX_PREFIX)


def make(name: str, episode_length: int = DEFAULT_EPISODE_LENGTH, **kwargs: Any) -> BraxMjxEnv:
    """Builds Brax task `name` on the MJX backend (raw env; wrap it with `wrap_for_training`)."""
    return BraxMjxEnv(name, episode_length=episode_length, **kwargs)


def task_class(name: str) -> type | None:
    """Brax's class for task `name` (its constructor takes the options), or None if Brax's
    registry cannot be read."""
    from brax import envs as brax_envs  # slow import, keep it lazy

    return getattr(brax_envs, "_envs", {}).get(brax_name(name))
