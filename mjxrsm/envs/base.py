"""The environment contract every task source implements.

The trainer only ever sees this interface, so a new task source (Brax MJX tasks, the
Gymnasium-faithful MJX tasks, a pure-JAX toy task) is one adapter module, not a trainer change.

An `Env` describes a *single, unbatched* environment with pure `reset`/`step` functions. The
trainer vmaps them over `num_envs` and wraps them with `envs.wrappers` (time limit as truncation,
auto-reset that keeps the true terminal observation).
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
from flax import struct


@struct.dataclass
class EnvState:
    """State of one environment.

    physics:    the simulator's own state (e.g. an `mjx.Data` or Brax pipeline state); opaque.
    obs:        [obs_dim] observation *after* the last step (after auto-reset, the new episode's).
    reward:     [] reward of the last step.
    terminated: [] 1.0 if the last step entered a terminal state (no bootstrapping), else 0.0.
    truncated:  [] 1.0 if the episode was cut by the time limit (bootstrap), else 0.0.
    info:       dict of [] / [k] arrays: per-term rewards, step counters, `final_obs`, ...
                Keys must be the same after `reset` and `step` (the trainer scans over them).
    """

    physics: Any
    obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    info: dict[str, jax.Array]


class Env(Protocol):
    """A single environment with pure functions; actions live in [-1, 1]^action_size."""

    @property
    def observation_size(self) -> int: ...

    @property
    def action_size(self) -> int: ...

    @property
    def episode_length(self) -> int:
        """Time limit in environment steps (after frame skip); reaching it truncates."""
        ...

    def reset(self, key: jax.Array) -> EnvState: ...

    def step(self, state: EnvState, action: jax.Array) -> EnvState: ...
