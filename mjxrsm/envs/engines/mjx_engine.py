"""MJX as a physics engine: `impl="jax"` (XLA, any backend) or `impl="warp"` (MuJoCo Warp, NVIDIA).

The physics state is an `mjx.Data`. MJX has no PGS solver, so a model that asks for PGS (Gymnasium's
Humanoid) runs Newton here, and plane-capsule contacts are built with C MuJoCo's contact frames
while tracing (`contact_frames.py`); both differences are measured in docs/TASKS.md.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jp
import mujoco
from mujoco import mjx

from mjxrsm.envs.engines.contact_frames import mujoco_contact_frames
from mjxrsm.envs.engines.fields import Fields

_SOLVERS = {"newton": mujoco.mjtSolver.mjSOL_NEWTON, "cg": mujoco.mjtSolver.mjSOL_CG}
# Fields MJX keeps in its implementation-specific part of `Data`.
_IMPL_FIELDS = ("cinert", "cfrc_ext", "ten_velocity")


def adapt_model(
    model: mujoco.MjModel,
    solver: str | None = None,
    iterations: int | None = None,
    ls_iterations: int | None = None,
) -> mujoco.MjModel:
    """Change only the options MJX cannot run (or the caller asked for), in place.

    PGS becomes Newton, MuJoCo's default: the constraint problem is the same convex program, only
    the iterative method differs.
    """
    if solver is not None:
        model.opt.solver = _SOLVERS[solver]
    elif model.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
        model.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
    if iterations is not None:
        model.opt.iterations = iterations
    if ls_iterations is not None:
        model.opt.ls_iterations = ls_iterations
    return model


class MJXEngine:
    """`frame_skip` x `mjx.step` per step; `rne_postconstraint` after it when `cfrc_ext` is read."""

    def __init__(
        self,
        mj_model: mujoco.MjModel,
        frame_skip: int,
        fields: tuple[str, ...],
        impl: str = "jax",
        contact_frames: bool = True,
    ) -> None:
        self.name = impl
        self.mj_model = mj_model
        self.frame_skip = int(frame_skip)
        self.field_names = tuple(fields)
        self.contact_frames = bool(contact_frames) and impl == "jax"
        self.sys = mjx.put_model(mj_model, impl=impl)
        self._data0 = mjx.make_data(self.sys) if impl == "jax" else mjx.make_data(mj_model,
                                                                                    impl=impl)

    def init(self, qpos: jax.Array, qvel: jax.Array) -> mjx.Data:
        """Gymnasium's `set_state` on fresh data: `mj_resetData`, qpos/qvel, `mj_forward`.

        As in Gymnasium, `mj_forward` does not compute `cfrc_ext` (zero in an episode's first
        observation). MJX writes normalised free-joint quaternions back into qpos; C MuJoCo
        normalises only internally, so the un-normalised qpos is kept (the next step normalises
        it on both sides).
        """
        qpos = jp.asarray(qpos, self._data0.qpos.dtype)
        data = self._data0.replace(qpos=qpos, qvel=jp.asarray(qvel, self._data0.qvel.dtype))
        with mujoco_contact_frames(self.contact_frames):
            data = _same_dtypes(mjx.forward(self.sys, data), data)
        return data.replace(qpos=qpos)

    def init_where(self, qpos: jax.Array, qvel: jax.Array, needed: jax.Array) -> mjx.Data:
        """`init` for every lane (under vmap a branch would run both sides anyway)."""
        del needed
        return self.init(qpos, qvel)

    def step(self, data: mjx.Data, ctrl: jax.Array) -> mjx.Data:
        """`do_simulation`: set ctrl, `frame_skip` x `mj_step` (one compiled step in a
        `fori_loop`), then `mj_rnePostConstraint` if the task reads contact forces."""
        data = data.replace(ctrl=ctrl.astype(data.ctrl.dtype))

        def substep(_: int, d: mjx.Data) -> mjx.Data:
            return _same_dtypes(mjx.step(self.sys, d), d)

        with mujoco_contact_frames(self.contact_frames):
            data = jax.lax.fori_loop(0, self.frame_skip, substep, data)
            if "cfrc_ext" in self.field_names:
                data = mjx.rne_postconstraint(self.sys, data)
        return data

    def fields(self, data: mjx.Data) -> Fields:
        values: dict[str, Any] = {}
        for name in self.field_names:
            source = data._impl if name in _IMPL_FIELDS else data
            values[name] = getattr(source, name)
        return Fields(**values)

    def where(self, pred: jax.Array, on_true: mjx.Data, on_false: mjx.Data) -> mjx.Data:
        """`on_true` where `pred`, else `on_false` (MJX's own merge for Warp's batched layout)."""
        return on_false.where(pred, on_true)

    def info(self, data: mjx.Data) -> dict[str, jax.Array]:
        """No per-step info of its own (the env state keeps the layout it always had)."""
        return {}

    def diverged(self, data: mjx.Data) -> jax.Array:
        """A non-finite state: MJX has no divergence check of its own."""
        return ~(jp.all(jp.isfinite(data.qpos)) & jp.all(jp.isfinite(data.qvel)))


def _same_dtypes(new: mjx.Data, like: mjx.Data) -> mjx.Data:
    """Cast `new` to `like`'s leaf dtypes: reset and step physics must be one pytree type (the
    auto-reset selects between them) and MJX widens some integer fields under x64."""
    return jax.tree.map(lambda n, o: n.astype(o.dtype), new, like)
