"""MuJoCo Playground's DeepMind Control Suite tasks (`CheetahRun`, `HopperHop`, ...) as `Env`s.

Playground (PyPI `playground`, module `mujoco_playground`) is the maintained MJX task suite that
Brax's environments point to. Its DM Control Suite tasks ship their XMLs, so they work offline.
We build them with MJX's JAX implementation (`impl="jax"`; Playground 0.2's default is "warp").

Warp (`impl="warp"`): MJX 3.x calls MuJoCo Warp kernels through JAX FFI with a custom vmap (the
vmapped batch becomes Warp's `nworld`), so it can sit inside a jitted `lax.scan`; MJX accepts a
CUDA GPU or the CPU for it. It does not fit our auto-reset as is: `wrappers.TrainingWrapper`
merges reset and stepped physics leaf by leaf with `jnp.where`, which Warp's `Data` forbids (its
contact/constraint buffers must be merged with `Data.where`), and `naconmax`/`njmax` must be
sized per task. Untested here (no GPU); pass `impl="warp"` to `make` to experiment.

The robot tasks (locomotion, manipulation) load their models from MuJoCo Menagerie, which
Playground clones from GitHub at first use: they cannot work offline and are listed in
`UNAVAILABLE`. Listing names stays cheap: Playground is imported only when a task is built.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from mjxrsm.envs import catalog
from mjxrsm.envs.base import EnvState

TASKS, UNAVAILABLE = catalog.PLAYGROUND_TASKS, catalog.PLAYGROUND_UNAVAILABLE
METRIC_PREFIX = "metric/"


class PlaygroundEnv:
    """One Playground DM Control Suite task; the whole Playground `State` is our `physics`."""

    def __init__(self, name: str, impl: str = "jax", **config_overrides: Any):
        from mujoco_playground import dm_control_suite

        self.name = name
        self.pg_env = dm_control_suite.load(name, config_overrides={"impl": impl,
                                                                    **config_overrides})
        config = self.pg_env._config  # Playground exposes no public accessor
        if int(config.action_repeat) != 1:
            raise ValueError(f"{name}: action_repeat={config.action_repeat} is not supported")
        self._episode_length = int(config.episode_length)
        shapes = jax.eval_shape(self.pg_env.reset, jax.random.PRNGKey(0))
        self._observation_size = int(shapes.obs.shape[-1])
        self._metric_keys = tuple(sorted(shapes.metrics))

    @property
    def observation_size(self) -> int:
        return self._observation_size

    @property
    def action_size(self) -> int:
        return int(self.pg_env.action_size)

    @property
    def episode_length(self) -> int:
        return self._episode_length

    @property
    def dt(self) -> float:
        """Control timestep (the video's frame period)."""
        return float(self.pg_env.dt)

    @property
    def mj_model(self) -> Any:
        return self.pg_env.mj_model

    def _to_env_state(self, s: Any) -> EnvState:
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
        return self._to_env_state(self.pg_env.reset(key))

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        return self._to_env_state(self.pg_env.step(state.physics, action))


def make(name: str, **kwargs: Any) -> PlaygroundEnv:
    """Builds Playground task `name` (raw env; wrap it with `wrap_for_training`)."""
    if name in UNAVAILABLE:
        raise ValueError(f"{name!r} is unavailable: {UNAVAILABLE[name]}")
    if name not in TASKS:
        raise ValueError(f"unknown Playground task {name!r}; choose from {TASKS}")
    return PlaygroundEnv(name, **kwargs)
