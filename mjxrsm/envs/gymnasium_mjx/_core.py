"""Shared machinery of the Gymnasium-faithful MJX tasks.

Everything that is the same for all six tasks lives here: finding and loading Gymnasium's own
model XML, adapting the few model options MJX cannot run, frame-skip stepping, Gymnasium's
`reset_model` noise, and the [-1, 1] -> ctrlrange action map. A task subclass only supplies its
observation, its per-step info/reward terms and its healthy rule.

The physics state is an `mjx.Data`, and the task functions read exactly the fields Gymnasium
reads, *at the same point in time*: after `mj_step` C MuJoCo leaves position-dependent fields
(`xpos`, `xipos`, `cinert`, `cvel`, `qfrc_actuator`, contacts) at the last RK4 stage rather than at
the new `qpos`, and `mjx.step` does the same, so e.g. Ant's "xy position before" is read from the
previous step's data just like Gymnasium does, not recomputed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import jax
import jax.numpy as jp
import mujoco
from mujoco import mjx

from mjxrsm.envs.base import EnvState

# Gymnasium registers every v5 locomotion task with `max_episode_steps=1000`.
GYMNASIUM_TIME_LIMIT = 1000

_SOLVERS = {"newton": mujoco.mjtSolver.mjSOL_NEWTON, "cg": mujoco.mjtSolver.mjSOL_CG}


def gymnasium_assets_dir() -> str:
    """Directory of the installed Gymnasium's MuJoCo XML assets.

    Found through the import system without importing Gymnasium, so building an env costs no
    Gymnasium import; the XML is never copied into this repository.
    """
    spec = importlib.util.find_spec("gymnasium")
    if spec is None or spec.origin is None:
        raise ImportError(
            "the Gymnasium-faithful MJX tasks load their XML from the installed Gymnasium "
            "package: pip install 'gymnasium>=1.0'"
        )
    return os.path.join(os.path.dirname(spec.origin), "envs", "mujoco", "assets")


def resolve_xml(xml_file: str) -> str:
    """Resolve `xml_file` the way Gymnasium's `MujocoEnv` does (bare names -> its assets)."""
    if xml_file.startswith((".", "/")):
        path = xml_file
    elif xml_file.startswith("~"):
        path = os.path.expanduser(xml_file)
    else:
        path = os.path.join(gymnasium_assets_dir(), xml_file)
    if not os.path.exists(path):
        raise OSError(f"model file {path} does not exist")
    return path


def load_model(
    xml_path: str,
    solver: str | None = None,
    iterations: int | None = None,
    ls_iterations: int | None = None,
) -> mujoco.MjModel:
    """Load the C model and change only the options MJX cannot run (or the caller asked for).

    MJX has no PGS solver (Humanoid's XML asks for it), so PGS becomes Newton, MuJoCo's
    default; the constraint problem is the same convex program, only the iterative method
    differs (its measured effect is in docs/TASKS.md).
    """
    model = mujoco.MjModel.from_xml_path(xml_path)
    if solver is not None:
        model.opt.solver = _SOLVERS[solver]
    elif model.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
        model.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
    if iterations is not None:
        model.opt.iterations = iterations
    if ls_iterations is not None:
        model.opt.ls_iterations = ls_iterations
    return model


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


class GymnasiumMJXEnv:
    """A Gymnasium MuJoCo v5 task on MJX: one unbatched env with pure `reset`/`step`.

    Implements `mjxrsm.envs.base.Env`. Actions in [-1, 1]^nu map affinely onto the actuators'
    ctrlrange (Gymnasium's action space *is* the ctrlrange); like Gymnasium, they are not
    clipped: MuJoCo clamps the control, the control cost sees the unclamped value. `truncated`
    is always 0 here: the trainer's wrapper truncates at `episode_length`.
    """

    xml_file: ClassVar[str]
    frame_skip_default: ClassVar[int]
    # "uniform": qvel noise ~ U(-s, s); "normal": qvel noise ~ s * N(0, 1) (Gymnasium per task).
    qvel_noise: ClassVar[str] = "uniform"
    # Info keys that only a step defines (Gymnasium's reset info lacks them); zero after reset.
    step_only_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        xml_file: str | None = None,
        frame_skip: int | None = None,
        reset_noise_scale: float,
        terminate_when_unhealthy: bool = False,
        max_episode_steps: int = GYMNASIUM_TIME_LIMIT,
        mujoco_contact_frames: bool = True,
        mjx_solver: str | None = None,
        mjx_iterations: int | None = None,
        mjx_ls_iterations: int | None = None,
    ) -> None:
        self.xml_path = resolve_xml(xml_file or self.xml_file)
        self.frame_skip = int(frame_skip or self.frame_skip_default)
        self.reset_noise_scale = float(reset_noise_scale)
        self.terminate_when_unhealthy = bool(terminate_when_unhealthy)
        self.max_episode_steps = int(max_episode_steps)
        self.use_mujoco_contact_frames = bool(mujoco_contact_frames)
        self.mj_model = load_model(self.xml_path, mjx_solver, mjx_iterations, mjx_ls_iterations)
        self.sys = mjx.put_model(self.mj_model)
        self.dt = float(self.mj_model.opt.timestep) * self.frame_skip
        self.init_qpos = jp.asarray(self.mj_model.qpos0)
        self.init_qvel = jp.zeros(self.mj_model.nv)
        low, high = self.mj_model.actuator_ctrlrange.T
        self.ctrl_low, self.ctrl_high = jp.asarray(low), jp.asarray(high)
        self._data0 = mjx.make_data(self.sys)
        self._body_mass = jp.asarray(self.mj_model.body_mass)

    # ----------------------------------------------------------------- Env protocol
    @property
    def observation_size(self) -> int:
        return sum(self.observation_structure.values())

    @property
    def observation_structure(self) -> dict[str, int]:
        """Observation segments in order -> sizes (Gymnasium's `observation_structure`,
        without the skipped positions and empty segments)."""
        return {k: v for k, v in self._observation_structure().items() if v}

    @property
    def action_size(self) -> int:
        return int(self.mj_model.nu)

    @property
    def episode_length(self) -> int:
        return self.max_episode_steps

    def reset(self, key: jax.Array) -> EnvState:
        """Gymnasium's `reset_model`: qpos0/zero velocity plus `reset_noise_scale` noise."""
        kq, kv = jax.random.split(key)
        s = self.reset_noise_scale
        qpos = self.init_qpos + jax.random.uniform(
            kq, self.init_qpos.shape, minval=-s, maxval=s, dtype=self.init_qpos.dtype
        )
        if self.qvel_noise == "normal":
            noise = s * jax.random.normal(kv, self.init_qvel.shape, dtype=self.init_qvel.dtype)
        else:
            noise = jax.random.uniform(
                kv, self.init_qvel.shape, minval=-s, maxval=s, dtype=self.init_qvel.dtype
            )
        return self.set_state(qpos, self.init_qvel + noise)

    def set_state(self, qpos: jax.Array, qvel: jax.Array) -> EnvState:
        """Gymnasium's `set_state` on fresh data (`mj_resetData` + `mj_forward`) and its obs.

        As in Gymnasium, `mj_forward` does not compute `cfrc_ext`, so contact forces in the
        first observation of an episode are zero.
        """
        qpos = jp.asarray(qpos, self._data0.qpos.dtype)
        data = self._data0.replace(qpos=qpos, qvel=jp.asarray(qvel, self._data0.qvel.dtype))
        with mujoco_contact_frames(self.use_mujoco_contact_frames):
            data = _same_dtypes(mjx.forward(self.sys, data), data)
        # MJX writes normalised free-joint quaternions back into qpos; C MuJoCo normalises only
        # internally, so Gymnasium's first observation carries the noisy, non-unit quaternion
        # (the next step normalises it on both sides).
        return self.state_from_data(data.replace(qpos=qpos))

    def state_from_data(self, data: mjx.Data) -> EnvState:
        """Wrap a physics state as an episode start (reset-time obs/info, no reward)."""
        info = self._info(data, data, jp.zeros(self.action_size, data.qpos.dtype))
        info = {k: jp.zeros_like(v) if k in self.step_only_keys else v for k, v in info.items()}
        zero = jp.zeros((), data.qpos.dtype)
        return EnvState(
            physics=data,
            obs=self._obs(data),
            reward=zero,
            terminated=zero,
            truncated=zero,
            info=info,
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Gymnasium's `step`: frame-skip `mj_step`s, then obs, reward terms, termination."""
        before = state.physics
        ctrl = self.ctrl_from_action(action)
        after = self.simulate(before, ctrl)
        info = self._info(before, after, ctrl)
        reward = sum(v for k, v in info.items() if k.startswith("reward_"))
        if self.terminate_when_unhealthy:
            terminated = 1.0 - self._is_healthy(after).astype(reward.dtype)
        else:
            terminated = jp.zeros_like(reward)
        return state.replace(
            physics=after,
            obs=self._obs(after),
            reward=reward,
            terminated=terminated,
            truncated=jp.zeros_like(reward),
            info=info,
        )

    # ----------------------------------------------------------------- shared physics
    def ctrl_from_action(self, action: jax.Array) -> jax.Array:
        """Affine [-1, 1] -> [ctrl_low, ctrl_high] map (Gymnasium's action space)."""
        return self.ctrl_low + (action + 1.0) * 0.5 * (self.ctrl_high - self.ctrl_low)

    @property
    def needs_cfrc_ext(self) -> bool:
        """Whether obs or reward read contact forces (costs one `rne_postconstraint`)."""
        return False

    def simulate(self, data: mjx.Data, ctrl: jax.Array) -> mjx.Data:
        """`do_simulation`: set ctrl, `frame_skip` x `mj_step`, then `mj_rnePostConstraint`.

        The substeps run in a `fori_loop` so one `mjx.step` is compiled, not `frame_skip`.
        """
        data = data.replace(ctrl=ctrl.astype(data.ctrl.dtype))

        def substep(_: int, d: mjx.Data) -> mjx.Data:
            return _same_dtypes(mjx.step(self.sys, d), d)

        with mujoco_contact_frames(self.use_mujoco_contact_frames):
            data = jax.lax.fori_loop(0, self.frame_skip, substep, data)
            if self.needs_cfrc_ext:
                data = mjx.rne_postconstraint(self.sys, data)
        return data

    def mass_center_xy(self, data: mjx.Data) -> jax.Array:
        """Mass-weighted mean of the body inertial frames (Gymnasium's `mass_center`)."""
        return (self._body_mass @ data.xipos / jp.sum(self._body_mass))[:2]

    # ----------------------------------------------------------------- per task
    def _observation_structure(self) -> dict[str, int]:
        raise NotImplementedError

    def _obs(self, data: mjx.Data) -> jax.Array:
        raise NotImplementedError

    def _info(self, before: mjx.Data, after: mjx.Data, ctrl: jax.Array) -> dict[str, jax.Array]:
        """Gymnasium's step `info`: positions, velocities and every `reward_*` term."""
        raise NotImplementedError

    def _is_healthy(self, data: mjx.Data) -> jax.Array:
        return jp.array(True)


def _same_dtypes(new: mjx.Data, like: mjx.Data) -> mjx.Data:
    """Cast `new` to `like`'s leaf dtypes: reset and step physics must be one pytree type (the
    auto-reset selects between them) and MJX widens some integer fields under x64."""
    return jax.tree.map(lambda n, o: n.astype(o.dtype), new, like)


def state_vector(data: mjx.Data) -> jax.Array:
    """Gymnasium's `state_vector()`: qpos then qvel."""
    return jp.concatenate([data.qpos, data.qvel])


def healthy_term(is_healthy: jax.Array, weight: float, dtype: Any) -> jax.Array:
    """`is_healthy * healthy_reward` (paid whether or not unhealthy states terminate)."""
    return is_healthy.astype(dtype) * weight
