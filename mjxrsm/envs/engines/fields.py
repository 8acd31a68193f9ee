"""What a task reads from its physics, whatever engine stepped it.

A Gymnasium task's observation, reward and health rule read a handful of MjData fields (`qpos`,
`qvel`, body positions, composite inertias, ...) at the point in time Gymnasium reads them: after
`mj_step` those position-dependent fields describe the state *before the last substep*, exactly as
C MuJoCo leaves them. Each engine hands the task a `Fields` view with those values; a field the
task did not declare (`GymnasiumMJXEnv.fields`) is None, so reading one fails at trace time
instead of silently returning stale data.
"""

from __future__ import annotations

import jax
from flax import struct

# MjData fields a task may declare, with their shapes in terms of the model's sizes.
FIELD_SHAPES: dict[str, tuple[str, ...]] = {
    "qpos": ("nq",),
    "qvel": ("nv",),
    "xpos": ("nbody", "3"),
    "xipos": ("nbody", "3"),
    "cinert": ("nbody", "10"),
    "cvel": ("nbody", "6"),
    "qfrc_actuator": ("nv",),
    "cfrc_ext": ("nbody", "6"),
    "ten_length": ("ntendon",),
    "ten_velocity": ("ntendon",),
}


@struct.dataclass
class Fields:
    """MjData fields after a step (or a reset), as the task reads them."""

    qpos: jax.Array | None = None
    qvel: jax.Array | None = None
    xpos: jax.Array | None = None
    xipos: jax.Array | None = None
    cinert: jax.Array | None = None
    cvel: jax.Array | None = None
    qfrc_actuator: jax.Array | None = None
    cfrc_ext: jax.Array | None = None
    ten_length: jax.Array | None = None
    ten_velocity: jax.Array | None = None


def field_shape(model, name: str) -> tuple[int, ...]:
    """The shape of field `name` for one simulation of `model` (an `mujoco.MjModel`)."""
    return tuple(int(s) if s.isdigit() else int(getattr(model, s)) for s in FIELD_SHAPES[name])
