"""C MuJoCo's plane-capsule contact frames for MJX (`mujoco_contact_frames`).

C MuJoCo's first contact tangent is the capsule axis projected onto the plane; MJX 3.x switches to
a fixed world axis for capsules steeper than 60 degrees, which rotates the friction pyramid of
Ant's legs and changes its dynamics by O(1) m/s per step (docs/TASKS.md). Swapping MJX's pair
collider while tracing restores C MuJoCo's frame for the computations traced inside the block.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jp
import mujoco
from mujoco import mjx


def _plane_capsule_mujoco_frames(
    m: mjx.Model, d: mjx.Data, _key: Any, geom: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Plane-capsule contacts with C MuJoCo's contact frame.

    C MuJoCo's first tangent is the capsule axis projected onto the plane (the pyramidal friction
    cone is built on that frame). MJX 3.x instead switches to a fixed world axis whenever the
    projection is shorter than 0.5, i.e. for any capsule steeper than 60 degrees, which rotates
    the friction pyramid of Ant's legs and changes the dynamics by O(1) m/s per step. Positions
    and distances are the same as MJX's (two end-sphere contacts per pair).
    """
    plane, cap = geom.T

    def collide(
        plane_pos: jax.Array,
        plane_mat: jax.Array,
        cap_pos: jax.Array,
        cap_mat: jax.Array,
        cap_size: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        normal, axis = plane_mat[:, 2], cap_mat[:, 2]
        tangent = axis - normal * jp.dot(normal, axis)
        norm = jp.linalg.norm(tangent)
        # mju_normalize3 maps a (numerically) zero vector to +x.
        tangent = jp.where(
            norm < mujoco.mjMINVAL,
            jp.array([1.0, 0.0, 0.0], dtype=tangent.dtype),
            tangent / jp.maximum(norm, mujoco.mjMINVAL),
        )
        frame = jp.stack([normal, tangent, jp.cross(normal, tangent)])
        radius, segment = cap_size[0], axis * cap_size[1]
        dists, poss = [], []
        for end in (cap_pos + segment, cap_pos - segment):
            dist = jp.dot(end - plane_pos, normal) - radius
            dists.append(dist)
            poss.append(end - normal * (radius + 0.5 * dist))
        return jp.stack(dists), jp.stack(poss), jp.stack([frame, frame])

    dist, pos, frame = jax.vmap(collide)(
        d.geom_xpos[plane],
        d.geom_xmat[plane],
        d.geom_xpos[cap],
        d.geom_xmat[cap],
        m.geom_size[cap],
    )
    # MJX lays out the contacts of one geom pair next to each other.
    return dist.reshape(-1), pos.reshape(-1, 3), frame.reshape(-1, 3, 3)


_plane_capsule_mujoco_frames.ncon = 2  # type: ignore[attr-defined]


@contextlib.contextmanager
def mujoco_contact_frames(enabled: bool = True) -> Iterator[None]:
    """While *tracing* inside this block, MJX builds plane-capsule contacts the C MuJoCo way.

    MJX looks its pair colliders up in a module table at trace time, so swapping one entry for
    the duration of a trace changes only the computations traced here; other MJX users (e.g. the
    Brax tasks) keep stock MJX. If a future MJX moves the table, this degrades to stock MJX with
    a warning and the parity tests show the difference.
    """
    if not enabled:
        yield
        return
    try:
        from mujoco.mjx._src import collision_driver

        table = collision_driver._COLLISION_FUNC
        key = (mjx.GeomType.PLANE, mjx.GeomType.CAPSULE)
        original = table[key]
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - MJX layout changed
        warnings.warn(
            "cannot install C MuJoCo plane-capsule contact frames in this MJX; using MJX's",
            stacklevel=3,
        )
        yield
        return
    table[key] = _plane_capsule_mujoco_frames
    try:
        yield
    finally:
        table[key] = original
