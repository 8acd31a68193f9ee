"""Shared machinery of the Gymnasium-faithful tasks.

Everything that is the same for all six tasks lives here: finding and loading Gymnasium's own
model XML, choosing the physics engine (`mjxrsm/envs/engines`: C MuJoCo, MJX or MJX-Warp),
Gymnasium's `reset_model` noise, and the [-1, 1] -> ctrlrange action map. A task subclass only
supplies the MjData fields it reads, its observation, its per-step info/reward terms and its
healthy rule, all written against `Fields`, so one task runs on every engine.

The task functions read exactly the fields Gymnasium reads, *at the same point in time*: after
`mj_step` C MuJoCo leaves position-dependent fields (`xpos`, `xipos`, `cinert`, `cvel`,
`qfrc_actuator`, contacts) at the last substep's start rather than at the new `qpos`, and every
engine does the same, so e.g. Ant's "xy position before" is read from the previous step's fields
just like Gymnasium does, not recomputed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, ClassVar

import jax
import jax.numpy as jp
import mujoco

from mjxrsm.envs.base import EnvState
from mjxrsm.envs.engines import AUTO, make_engine, resolve_impl
from mjxrsm.envs.engines.fields import Fields
from mjxrsm.envs.engines.mjx_engine import adapt_model

# Gymnasium registers every v5 locomotion task with `max_episode_steps=1000`.
GYMNASIUM_TIME_LIMIT = 1000

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


class GymnasiumMJXEnv:
    """A Gymnasium MuJoCo v5 task: one unbatched env with pure `reset`/`step` on any engine.

    Implements `mjxrsm.envs.base.Env`. Actions in [-1, 1]^nu map affinely onto the actuators'
    ctrlrange (Gymnasium's action space *is* the ctrlrange); like Gymnasium, they are not
    clipped: MuJoCo clamps the control, the control cost sees the unclamped value. `truncated`
    is 0 unless the engine reports a diverged simulation; the trainer's wrapper truncates at
    `episode_length`.
    """

    xml_file: ClassVar[str]
    frame_skip_default: ClassVar[int]
    # "uniform": qvel noise ~ U(-s, s); "normal": qvel noise ~ s * N(0, 1) (Gymnasium per task).
    qvel_noise: ClassVar[str] = "uniform"
    # Info keys that only a step defines (Gymnasium's reset info lacks them); zero after reset.
    step_only_keys: ClassVar[tuple[str, ...]] = ()
    # MjData fields the task reads besides qpos and qvel (contact forces: `needs_cfrc_ext`).
    read_fields: ClassVar[tuple[str, ...]] = ()
    # Engines every Gymnasium task runs on (envs/engines); `auto` picks among them.
    engines: ClassVar[tuple[str, ...]] = ("jax", "warp", "c")

    def __init__(
        self,
        *,
        xml_file: str | None = None,
        frame_skip: int | None = None,
        reset_noise_scale: float,
        terminate_when_unhealthy: bool = False,
        max_episode_steps: int = GYMNASIUM_TIME_LIMIT,
        impl: str = AUTO,
        nthread: int = 0,
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
        self.impl = resolve_impl(type(self).__name__ + "-v5", impl, self.engines)
        mj_model = mujoco.MjModel.from_xml_path(self.xml_path)
        if self.impl == "c":
            mjx_only = {"mjx_solver": mjx_solver, "mjx_iterations": mjx_iterations,
                        "mjx_ls_iterations": mjx_ls_iterations}
            given = [k for k, v in mjx_only.items() if v is not None]
            if given:
                raise ValueError(f"env.kwargs {given} apply to MJX (env.impl=jax|warp); the C "
                                 "engine runs the model's own solver")
        else:
            adapt_model(mj_model, mjx_solver, mjx_iterations, mjx_ls_iterations)
        self.mj_model = mj_model
        self.dt = float(mj_model.opt.timestep) * self.frame_skip
        self.init_qpos = jp.asarray(mj_model.qpos0)
        self.init_qvel = jp.zeros(mj_model.nv)
        low, high = mj_model.actuator_ctrlrange.T
        self.ctrl_low, self.ctrl_high = jp.asarray(low), jp.asarray(high)
        self._body_mass = jp.asarray(mj_model.body_mass)
        self._engine_options = {"contact_frames": bool(mujoco_contact_frames),
                                "nthread": int(nthread)}

    @functools.cached_property
    def engine(self) -> Any:
        """The physics engine (built on first use: a task's options decide what it reads)."""
        fields = ("qpos", "qvel", *self.read_fields) + ("cfrc_ext",) * self.needs_cfrc_ext
        return make_engine(self.impl, self.mj_model, self.frame_skip, fields,
                           **self._engine_options)

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
        return self.set_state(*self._reset_state(key))

    def reset_where(self, key: jax.Array, needed: jax.Array) -> EnvState:
        """`reset(key)` where `needed`; elsewhere an unspecified state the caller discards (the
        auto-reset selects it only where an episode ended), which the engine may skip."""
        qpos, qvel = self._reset_state(key)
        return self.state_from_physics(self.engine.init_where(qpos, qvel, needed))

    def _reset_state(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
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
        return qpos, self.init_qvel + noise

    def set_state(self, qpos: jax.Array, qvel: jax.Array) -> EnvState:
        """Gymnasium's `set_state` on fresh data (`mj_resetData` + `mj_forward`) and its obs.

        As in Gymnasium, `mj_forward` does not compute `cfrc_ext`, so contact forces in the
        first observation of an episode are zero.
        """
        return self.state_from_physics(self.engine.init(qpos, qvel))

    def state_from_physics(self, physics: Any) -> EnvState:
        """Wrap a physics state as an episode start (reset-time obs/info, no reward)."""
        data = self.engine.fields(physics)
        info = self._info(data, data, jp.zeros(self.action_size, data.qpos.dtype))
        info = {k: jp.zeros_like(v) if k in self.step_only_keys else v for k, v in info.items()}
        zero = jp.zeros((), data.qpos.dtype)
        return EnvState(
            physics=physics,
            obs=self._obs(data),
            reward=zero,
            terminated=zero,
            truncated=zero,
            info={**info, **self.engine.info(physics)},
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Gymnasium's `step`: frame-skip `mj_step`s, then obs, reward terms, termination."""
        ctrl = self.ctrl_from_action(action)
        physics = self.engine.step(state.physics, ctrl)
        before, after = self.engine.fields(state.physics), self.engine.fields(physics)
        info = self._info(before, after, ctrl)
        reward = sum(v for k, v in info.items() if k.startswith("reward_"))
        if self.terminate_when_unhealthy:
            terminated = 1.0 - self._is_healthy(after).astype(reward.dtype)
        else:
            terminated = jp.zeros_like(reward)
        # A simulation MuJoCo flagged as diverged ends its episode (not a task outcome: truncated).
        truncated = self.engine.diverged(physics).astype(reward.dtype) * (1.0 - terminated)
        return state.replace(
            physics=physics,
            obs=self._obs(after),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            info={**info, **self.engine.info(physics)},
        )

    def select_physics(self, pred: jax.Array, on_true: Any, on_false: Any) -> Any:
        """Per-env `where` for the auto-reset: the engine's own (MJX-Warp's `Data` holds
        unbatched buffers that a leaf-wise `where` would broadcast)."""
        return self.engine.where(pred, on_true, on_false)

    # ----------------------------------------------------------------- shared physics
    def ctrl_from_action(self, action: jax.Array) -> jax.Array:
        """Affine [-1, 1] -> [ctrl_low, ctrl_high] map (Gymnasium's action space)."""
        return self.ctrl_low + (action + 1.0) * 0.5 * (self.ctrl_high - self.ctrl_low)

    @property
    def needs_cfrc_ext(self) -> bool:
        """Whether obs or reward read contact forces (costs one `mj_rnePostConstraint`)."""
        return False

    def mass_center_xy(self, data: Fields) -> jax.Array:
        """Mass-weighted mean of the body inertial frames (Gymnasium's `mass_center`)."""
        return (self._body_mass @ data.xipos / jp.sum(self._body_mass))[:2]

    # ----------------------------------------------------------------- per task
    def _observation_structure(self) -> dict[str, int]:
        raise NotImplementedError

    def _obs(self, data: Fields) -> jax.Array:
        raise NotImplementedError

    def _info(self, before: Fields, after: Fields, ctrl: jax.Array) -> dict[str, jax.Array]:
        """Gymnasium's step `info`: positions, velocities and every `reward_*` term."""
        raise NotImplementedError

    def _is_healthy(self, data: Fields) -> jax.Array:
        return jp.array(True)


def state_vector(data: Fields) -> jax.Array:
    """Gymnasium's `state_vector()`: qpos then qvel."""
    return jp.concatenate([data.qpos, data.qvel])


def healthy_term(is_healthy: jax.Array, weight: float, dtype: Any) -> jax.Array:
    """`is_healthy * healthy_reward` (paid whether or not unhealthy states terminate)."""
    return is_healthy.astype(dtype) * weight
