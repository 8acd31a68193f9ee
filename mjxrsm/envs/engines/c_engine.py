"""MuJoCo's own C engine inside the jitted scan: `mujoco.batch` behind a `jax.pure_callback`.

On a CPU, C MuJoCo steps the Gymnasium models ~50x faster than MJX (bench/results/throughput/),
so there the physics runs in C: each vector step is one callback that loads every env's state
into a `mujoco.batch.Batch`, runs `frame_skip` x `mj_step` on its thread pool, and returns the new
state. The model runs unchanged (Humanoid keeps PGS, Ant keeps C's contact frames): these are
Gymnasium's own dynamics.

The run stays a pure function of its carry. The whole integration state (`mjSTATE_INTEGRATION`:
time, qpos, qvel, act, warm start, ctrl, ...) travels in the JAX state as the *bits* of its float64
values (`uint32[nstate, 2]`; JAX runs without x64), so a trajectory is bit-identical to `MjData` +
`mj_step`, and resume, vmap and `shard_map` need nothing special. The derived fields a task reads
(`xpos`, `cinert`, ...) come out of the same call, one substep behind as after `mj_step`, and travel
as float32. Contact forces (`cfrc_ext`) are Gymnasium's: `mj_rnePostConstraint` on each env's
post-step `MjData` (a persistent batch).

A simulation MuJoCo flags as diverged (a bad qpos/qvel/qacc warning, or an error) is reported per
env in `diverged`; its episode ends there (the task truncates it) instead of raising inside the
callback, which JAX cannot handle.

A task that reads nothing but qpos and qvel (HalfCheetah, Hopper, Walker2d, Swimmer) resets
without a callback: `mj_resetData` + qpos/qvel + `mj_forward` leaves the integration state at the
reset defaults with the new qpos/qvel (the forward changes none of it), so that state is built in
JAX, and the first `mj_step` of the episode runs the forward itself. Frequent resets (Hopper)
then cost no second host call per step.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

import jax
import jax.numpy as jp
import mujoco
import numpy as np
from flax import struct
from mujoco import batch as mjbatch

from mjxrsm.envs.engines.fields import Fields, field_shape

_INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION
_DIVERGED_WARNINGS = [int(w) for w in (
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_BADQVEL,
    mujoco.mjtWarning.mjWARN_BADQACC,
)]
# Fields that live in the state rows (read from there) rather than in the batch's outputs.
_STATE_FIELDS = ("qpos", "qvel")


@struct.dataclass
class CPhysics:
    """One env's physics on the C engine (a pytree of plain arrays).

    state:    uint32[nstate, 2], the float64 bits of the mjSTATE_INTEGRATION vector.
    fields:   name -> float32 array, the derived MjData fields the task reads.
    diverged: bool[], MuJoCo flagged the last step as diverged (the state was reset by MuJoCo).
    """

    state: jax.Array
    fields: dict[str, jax.Array]
    diverged: jax.Array


def widen_to_float64_bits(x: jax.Array) -> jax.Array:
    """float32 `x` -> the bits of the equal float64 as uint32[..., 2] ([low, high] words, the
    layout of a little-endian float64 array viewed as uint32), as numpy's float32 -> float64
    cast gives them: exact for zeros, subnormals and infinities, a NaN comes out quiet. Integer
    ops only: JAX runs without x64."""
    u = jax.lax.bitcast_convert_type(jp.asarray(x, jp.float32), jp.uint32)
    sign = u & jp.uint32(0x80000000)
    exp = (u >> 23) & jp.uint32(0xFF)
    mant = u & jp.uint32(0x7FFFFF)
    # Subnormal: move the leading one to bit 23 (then dropped) and lower the exponent to match.
    lead = jp.uint32(31) - jax.lax.clz(mant)  # bit of the leading one, 0..22 (mant > 0)
    sub = (exp == 0) & (mant != 0)
    shift = jp.where(sub, jp.uint32(23) - lead, jp.uint32(0))
    mant = jp.where(sub, (mant << shift) & jp.uint32(0x7FFFFF), mant)
    # A NaN comes out quiet, as from the hardware's conversion.
    mant = jp.where((exp == 0xFF) & (mant != 0), mant | jp.uint32(0x400000), mant)
    exp64 = jp.where(exp == 0xFF, jp.uint32(0x7FF),
                     jp.where(sub, lead + jp.uint32(874),  # 2^(lead-149) -> bias 1023
                              jp.where(exp == 0, jp.uint32(0), exp + jp.uint32(896))))
    high = sign | (exp64 << 20) | (mant >> 3)
    low = (mant & jp.uint32(7)) << 29
    return jp.stack([low, high], axis=-1)


def default_nthread() -> int:
    """Threads for the batch: the cores this process may run on (all of them by default, the
    pinned core under `taskset -c N`)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _Simulator:
    """One `mujoco.batch.Batch` of a given size and the arrays bound on it (one user at a time)."""

    def __init__(self, model: mujoco.MjModel, nsim: int, nthread: int, outputs: tuple[str, ...],
                 contact_forces: bool) -> None:
        self.batch = mjbatch.Batch(model, nsim, nthread=nthread, persistent=contact_forces)
        self.model = model
        # Outputs must be bound before a call to be copied out by it.
        self.outputs = {name: self.batch.bind(name) for name in outputs}
        self.qpos, self.qvel = self.batch.bind("qpos"), self.batch.bind("qvel")
        self.ctrl = self.batch.bind("ctrl")
        self.scratch = mujoco.MjData(model) if contact_forces else None

    def run(self, call: Any) -> np.ndarray:
        """Run `call()` (a batch step or forward); return which simulations diverged."""
        warning = self.batch.warning
        warning[...] = 0
        failed = np.zeros(self.batch.nsim, bool)
        try:
            call()
        except mjbatch.SimulationError:
            failed = np.asarray(self.batch.status) != 0
        bad = warning[:, _DIVERGED_WARNINGS, 0].sum(axis=1) > 0
        return failed | bad

    def contact_forces(self) -> np.ndarray:
        """Gymnasium's `mj_rnePostConstraint` after `mj_step`, per simulation."""
        nsim, nbody = self.batch.nsim, self.model.nbody
        out = np.empty((nsim, nbody, 6))
        for i in range(nsim):
            data = self.batch.get_data(i, self.scratch)
            mujoco.mj_rnePostConstraint(self.model, data)
            out[i] = data.cfrc_ext
        return out


def _zero_where(x: np.ndarray, drop: np.ndarray, n: int) -> np.ndarray:
    """`x` ([*lead, ...]) with the lanes in `drop` ([n], flat over lead) zeroed."""
    flat = np.array(x).reshape(n, -1)
    flat[drop] = 0
    return flat.reshape(np.shape(x))


class CEngine:
    """`frame_skip` x `mj_step` of C MuJoCo per step, for every env of the batch in one call."""

    name = "c"

    def __init__(self, mj_model: mujoco.MjModel, frame_skip: int, fields: tuple[str, ...],
                 nthread: int = 0) -> None:
        self.mj_model = mj_model
        self.frame_skip = int(frame_skip)
        self.field_names = tuple(fields)
        self.nthread = int(nthread) or default_nthread()
        self.nstate = mujoco.mj_stateSize(mj_model, _INTEGRATION)
        self._contact_forces = "cfrc_ext" in self.field_names
        self._outputs = tuple(
            f for f in self.field_names if f not in _STATE_FIELDS and f != "cfrc_ext"
        )
        self._free: dict[int, list[_Simulator]] = {}
        self._lock = threading.Lock()
        # Resets built in JAX when the task reads no derived field (see the module docstring):
        # the integration state of fresh data, whose qpos and qvel rows are then replaced.
        self.resets_in_jax = set(self.field_names) <= set(_STATE_FIELDS)
        data = mujoco.MjData(mj_model)
        fresh = np.empty(self.nstate)
        mujoco.mj_getState(mj_model, data, fresh, _INTEGRATION)
        self._fresh_state = fresh.view(np.uint32).reshape(self.nstate, 2)
        self._qpos_row = mujoco.mj_stateSize(mj_model, mujoco.mjtState.mjSTATE_TIME)

    # ----------------------------------------------------------------- JAX side
    def _result_shape(self) -> CPhysics:
        f32 = jp.float32
        return CPhysics(
            state=jax.ShapeDtypeStruct((self.nstate, 2), jp.uint32),
            fields={f: jax.ShapeDtypeStruct(field_shape(self.mj_model, f), f32)
                    for f in self.field_names},
            diverged=jax.ShapeDtypeStruct((), jp.bool_),
        )

    def init(self, qpos: jax.Array, qvel: jax.Array) -> CPhysics:
        """Gymnasium's `set_state` on fresh data: `mj_resetData`, qpos/qvel, `mj_forward`."""
        if self.resets_in_jax:
            return self._init_in_jax(qpos, qvel)
        return jax.pure_callback(self._host_init, self._result_shape(),
                                 jp.asarray(qpos, jp.float32), jp.asarray(qvel, jp.float32),
                                 vmap_method="broadcast_all")

    def init_where(self, qpos: jax.Array, qvel: jax.Array, needed: jax.Array) -> CPhysics:
        """`init` where `needed`, zeros elsewhere: the auto-reset's forward then costs one
        `mj_forward` per finished episode instead of one per env and step (and no host call
        at all for a task that resets in JAX)."""
        if self.resets_in_jax:
            return self._init_in_jax(qpos, qvel)
        return jax.pure_callback(self._host_init, self._result_shape(),
                                 jp.asarray(qpos, jp.float32), jp.asarray(qvel, jp.float32),
                                 jp.asarray(needed, jp.bool_), vmap_method="broadcast_all")

    def _init_in_jax(self, qpos: jax.Array, qvel: jax.Array) -> CPhysics:
        """The state `init` returns, for a task whose fields are qpos and qvel, without a call."""
        qpos, qvel = jp.asarray(qpos, jp.float32), jp.asarray(qvel, jp.float32)
        start, nq, nv = self._qpos_row, self.mj_model.nq, self.mj_model.nv
        state = jp.asarray(self._fresh_state)
        state = jp.broadcast_to(state, (*qpos.shape[:-1], *state.shape))
        state = state.at[..., start:start + nq, :].set(widen_to_float64_bits(qpos))
        state = state.at[..., start + nq:start + nq + nv, :].set(widen_to_float64_bits(qvel))
        given = {"qpos": qpos, "qvel": qvel}
        return CPhysics(state=state, fields={f: given[f] for f in self.field_names},
                        diverged=jp.zeros(qpos.shape[:-1], jp.bool_))

    def step(self, physics: CPhysics, ctrl: jax.Array) -> CPhysics:
        """Gymnasium's `do_simulation`: ctrl, `frame_skip` x `mj_step`, contact forces."""
        return jax.pure_callback(self._host_step, self._result_shape(), physics.state,
                                 jp.asarray(ctrl, jp.float32), vmap_method="broadcast_all")

    def fields(self, physics: CPhysics) -> Fields:
        return Fields(**physics.fields)

    def diverged(self, physics: CPhysics) -> jax.Array:
        return physics.diverged

    def where(self, pred: jax.Array, on_true: CPhysics, on_false: CPhysics) -> CPhysics:
        return jax.tree.map(lambda t, f: jp.where(pred, t, f), on_true, on_false)

    def info(self, physics: CPhysics) -> dict[str, jax.Array]:
        """Per-step info the engine adds: 1.0 where MuJoCo flagged a diverged simulation."""
        return {"physics_diverged": physics.diverged.astype(jp.float32)}

    # ----------------------------------------------------------------- host side
    def _acquire(self, nsim: int) -> _Simulator:
        with self._lock:
            free = self._free.setdefault(nsim, [])
            if free:
                return free.pop()
        return _Simulator(self.mj_model, nsim, self.nthread, self._outputs, self._contact_forces)

    def _release(self, sim: _Simulator) -> None:
        with self._lock:
            self._free[sim.batch.nsim].append(sim)

    def _outputs_of(self, sim: _Simulator, lead: tuple[int, ...], rows: np.ndarray,
                    diverged: np.ndarray, contact_forces: np.ndarray | None) -> CPhysics:
        fields = {}
        for f in self.field_names:
            if f == "qpos":
                value = sim.qpos
            elif f == "qvel":
                value = sim.qvel
            elif f == "cfrc_ext":
                value = contact_forces
            else:
                value = sim.outputs[f]
            fields[f] = np.asarray(value, np.float32).reshape(*lead, *field_shape(self.mj_model, f))
        state = np.ascontiguousarray(rows).view(np.uint32).reshape(*lead, self.nstate, 2)
        return CPhysics(state=state, fields=fields, diverged=diverged.reshape(lead))

    def _host_init(self, qpos: np.ndarray, qvel: np.ndarray,
                   needed: np.ndarray | None = None) -> CPhysics:
        lead = qpos.shape[:-1]
        n = math.prod(lead)
        ids = None if needed is None else np.flatnonzero(np.broadcast_to(needed, lead))
        if ids is not None and ids.size == 0:
            return self._zeros(lead)
        sim = self._acquire(n)
        try:
            sim.batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
            rows = slice(None) if ids is None else ids
            sim.qpos[rows] = qpos.reshape(n, -1)[rows]
            sim.qvel[rows] = qvel.reshape(n, -1)[rows]
            diverged = sim.run(lambda: sim.batch.forward(ids))
            forces = np.zeros((n, self.mj_model.nbody, 6)) if self._contact_forces else None
            out = self._outputs_of(sim, lead, sim.batch.state.copy(), diverged, forces)
        finally:
            self._release(sim)
        if ids is not None:  # lanes not reset: zeros, not another simulation's leftovers
            keep = np.zeros(n, bool)
            keep[ids] = True
            out = jax.tree.map(lambda x: _zero_where(x, ~keep, n), out)
        return out

    def _zeros(self, lead: tuple[int, ...]) -> CPhysics:
        shape = self._result_shape()
        return jax.tree.map(lambda s: np.zeros((*lead, *s.shape), s.dtype), shape)

    def _host_step(self, state: np.ndarray, ctrl: np.ndarray) -> CPhysics:
        lead = state.shape[:-2]
        n = math.prod(lead)
        rows = np.ascontiguousarray(state).view(np.float64).reshape(n, self.nstate)
        sim = self._acquire(n)
        try:
            sim.batch.state[...] = rows
            sim.ctrl[...] = ctrl.reshape(n, -1)
            diverged = sim.run(lambda: sim.batch.step(nstep=self.frame_skip))
            # MuJoCo resets a simulation whose qpos/qvel/qacc went bad (its time restarts at 0),
            # whether it came in bad (NaN or beyond mjMAXVAL) or went bad during the step.
            diverged |= ~(np.abs(rows) <= mujoco.mjMAXVAL).all(axis=1)
            expected = rows[:, 0] + self.frame_skip * self.mj_model.opt.timestep
            diverged |= sim.batch.state[:, 0] < expected - 0.5 * self.mj_model.opt.timestep
            diverged |= ~np.isfinite(sim.batch.state).all(axis=1)
            failed = np.asarray(sim.batch.status) != 0
            sim.batch.state[failed] = rows[failed]  # an error leaves no usable state: keep it
            new_rows = sim.batch.state.copy()
            forces = sim.contact_forces() if self._contact_forces else None
            return self._outputs_of(sim, lead, new_rows, diverged, forces)
        finally:
            self._release(sim)
