"""The part every adapter of another suite's MJX tasks shares (Brax, Playground).

Both suites' envs expose `reset(key) -> State` and `step(State, action) -> State` with `obs`,
`reward`, `done` and a `metrics` dict, plus `action_size` and `dt`. `SuiteEnv` maps such an env
onto our `Env`: `done` is termination (neither suite truncates on its own: the time limit comes
from `mjxrsm.envs.wrappers`), each metric becomes an info entry `metric/<name>` (float32 scalars,
the same keys after reset and step, as the trainer's scan needs), and the suite's whole `State`
stays opaque in `physics`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from mjxrsm.envs.base import EnvState

METRIC_PREFIX = "metric/"


class SuiteEnv:
    """One task of another suite as an `Env`; subclasses build `inner` and call `_bind`."""

    name: str
    inner: Any

    def _bind(self, inner: Any, episode_length: int) -> None:
        """Adopt `inner`; shapes and metric keys come from an abstract reset (the suites' own
        `observation_size` runs an eager reset, which is slow for MJX)."""
        self.inner = inner
        self._episode_length = int(episode_length)
        shapes = jax.eval_shape(inner.reset, jax.random.PRNGKey(0))
        self._observation_size = int(shapes.obs.shape[-1])
        self._metric_keys = tuple(sorted(shapes.metrics))

    @property
    def observation_size(self) -> int:
        return self._observation_size

    @property
    def action_size(self) -> int:
        return int(self.inner.action_size)

    @property
    def episode_length(self) -> int:
        return self._episode_length

    @property
    def dt(self) -> float:
        """Control timestep (physics timestep x frame skip; the video's frame period)."""
        return float(self.inner.dt)

    def _to_env_state(self, s: Any) -> EnvState:
        if set(s.metrics) != set(self._metric_keys):
            raise KeyError(f"{self.name!r}: metrics changed from {self._metric_keys} to "
                           f"{tuple(sorted(s.metrics))}; the trainer needs constant info keys")
        info = {METRIC_PREFIX + k: jnp.asarray(s.metrics[k], jnp.float32)
                for k in self._metric_keys}
        return EnvState(
            physics=s,
            obs=s.obs,
            reward=jnp.asarray(s.reward, jnp.float32),
            terminated=jnp.asarray(s.done, jnp.float32),
            truncated=jnp.zeros((), jnp.float32),
            info=info,
        )

    def reset(self, key: jax.Array) -> EnvState:
        return self._to_env_state(self.inner.reset(key))

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        s = state.physics
        # Brax updates `state.metrics` and `state.info` in place (dict.update): step a copy, so
        # that the caller's state is never mutated.
        s = s.replace(metrics=dict(s.metrics), info=dict(s.info))
        return self._to_env_state(self.inner.step(s, action))
