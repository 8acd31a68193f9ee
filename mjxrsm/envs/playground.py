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

from mjxrsm.envs import catalog
from mjxrsm.envs.adapter import SuiteEnv

TASKS, UNAVAILABLE = catalog.PLAYGROUND_TASKS, catalog.PLAYGROUND_UNAVAILABLE


class PlaygroundEnv(SuiteEnv):
    """One Playground DM Control Suite task; the whole Playground `State` is our `physics`."""

    def __init__(self, name: str, impl: str = "jax", **config_overrides: Any):
        from mujoco_playground import dm_control_suite

        self.name = name
        inner = dm_control_suite.load(name, config_overrides={"impl": impl, **config_overrides})
        config = inner._config  # Playground exposes no public accessor
        if int(config.action_repeat) != 1:
            raise ValueError(f"{name}: action_repeat={config.action_repeat} is not supported")
        self._bind(inner, config.episode_length)

    @property
    def mj_model(self) -> Any:
        return self.inner.mj_model


def make(name: str, **kwargs: Any) -> PlaygroundEnv:
    """Builds Playground task `name` (raw env; wrap it with `wrap_for_training`)."""
    if name in UNAVAILABLE:
        raise ValueError(f"{name!r} is unavailable: {UNAVAILABLE[name]}")
    if name not in TASKS:
        raise ValueError(f"unknown Playground task {name!r}; choose from {TASKS}")
    return PlaygroundEnv(name, **kwargs)
