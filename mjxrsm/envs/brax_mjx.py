"""Brax's locomotion/manipulation tasks on the MJX backend, adapted to our `Env` protocol.

Uses the raw `brax.envs.get_environment(name, backend='mjx')` env without Brax's own wrappers:
time limit, auto-reset and vmap come from `mjxrsm.envs.wrappers` and the trainer.

Mapping: Brax `done` is termination (Brax has no truncation of its own); Brax `metrics` become
info entries `metric/<name>` (float32 scalars, same keys after reset and step). The whole Brax
`State` (pipeline state plus Brax's own info, e.g. `time_out`) is kept opaque in `physics`.

Brax is imported only when an env is built, because importing it takes seconds.

Brax quirks worth knowing:
- `swimmer` only supports Brax's 'generalized' backend; it raises here with a clear message.
- Actions are passed through unscaled. Brax rescales [-1, 1] to the actuator range only for
  `inverted_pendulum` (range [-3, 3]); `humanoid`/`humanoidstandup` have ctrlrange [-0.4, 0.4] and
  `pusher` [-2, 2], so MJX clamps humanoid actions beyond +-0.4 and pusher reaches only half its
  range. This is the convention Brax's own training code uses, so returns stay comparable.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from mjxrsm.envs import catalog
from mjxrsm.envs.base import EnvState

TASKS, UNSUPPORTED = catalog.BRAX_TASKS, catalog.BRAX_UNSUPPORTED

DEFAULT_EPISODE_LENGTH = 1000
METRIC_PREFIX = "metric/"


class BraxMjxEnv:
    """One Brax MJX task as an `Env`; extra kwargs go to the Brax env constructor."""

    def __init__(self, name: str, episode_length: int = DEFAULT_EPISODE_LENGTH, **kwargs: Any):
        if name in UNSUPPORTED:
            raise ValueError(UNSUPPORTED[name])
        if name not in TASKS:
            raise ValueError(f"unknown Brax task {name!r}; choose from {TASKS}")
        from brax import envs as brax_envs  # slow import, keep it lazy

        self.name = name
        self.brax_env = brax_envs.get_environment(name, backend="mjx", **kwargs)
        self._episode_length = int(episode_length)
        # Shapes and metric keys by abstract evaluation: Brax's own `observation_size` runs an
        # eager (un-jitted) reset, which is slow for MJX.
        shapes = jax.eval_shape(self.brax_env.reset, jax.random.PRNGKey(0))
        self._observation_size = int(shapes.obs.shape[-1])
        self._metric_keys = tuple(sorted(shapes.metrics))

    @property
    def observation_size(self) -> int:
        return self._observation_size

    @property
    def action_size(self) -> int:
        return int(self.brax_env.action_size)

    @property
    def episode_length(self) -> int:
        return self._episode_length

    @property
    def dt(self) -> float:
        """Control timestep (physics timestep x n_frames)."""
        return float(self.brax_env.dt)

    def _to_env_state(self, bs: Any) -> EnvState:
        if set(bs.metrics) != set(self._metric_keys):
            raise KeyError(
                f"Brax {self.name!r} metrics changed from {self._metric_keys} to "
                f"{tuple(sorted(bs.metrics))}; the trainer needs constant info keys"
            )
        info = {
            METRIC_PREFIX + k: jnp.asarray(bs.metrics[k], jnp.float32) for k in self._metric_keys
        }
        return EnvState(
            physics=bs,
            obs=bs.obs,
            reward=jnp.asarray(bs.reward, jnp.float32),
            terminated=jnp.asarray(bs.done, jnp.float32),
            truncated=jnp.zeros((), jnp.float32),
            info=info,
        )

    def reset(self, key: jax.Array) -> EnvState:
        return self._to_env_state(self.brax_env.reset(key))

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        bs = state.physics
        # Brax updates `state.metrics` in place (dict.update); give it a copy so the caller's
        # state is never mutated.
        bs = bs.replace(metrics=dict(bs.metrics), info=dict(bs.info))
        return self._to_env_state(self.brax_env.step(bs, action))


def make(name: str, episode_length: int = DEFAULT_EPISODE_LENGTH, **kwargs: Any) -> BraxMjxEnv:
    """Builds Brax task `name` on the MJX backend (raw env; wrap it with `wrap_for_training`)."""
    return BraxMjxEnv(name, episode_length=episode_length, **kwargs)


def task_class(name: str) -> type | None:
    """Brax's class for task `name` (its constructor takes the options), or None if Brax's
    registry cannot be read."""
    from brax import envs as brax_envs  # slow import, keep it lazy

    return getattr(brax_envs, "_envs", {}).get(name)
