"""The six Gymnasium v5 locomotion tasks: observation, info/reward terms, healthy rule each.

Constructor options carry Gymnasium's names and defaults (Gymnasium 1.x `*_v5.py`), so
`make("Ant-v5", ctrl_cost_weight=0.1)` means what `gymnasium.make` would mean. Ranges are open
or closed exactly as Gymnasium compares them (Ant's z range is closed, the others open).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jp
import mujoco

from mjxrsm.envs.engines.fields import Fields
from mjxrsm.envs.gymnasium_mjx._core import GymnasiumMJXEnv, healthy_term, state_vector

Range = tuple[float, float]


def _forward_velocity(before: jax.Array, after: jax.Array, dt: float) -> jax.Array:
    return (after - before) / dt


class _XRunner(GymnasiumMJXEnv):
    """HalfCheetah/Hopper/Walker2d: planar bodies whose qpos[0] is the x slider."""

    clip_qvel: bool = False

    def __init__(
        self,
        *,
        forward_reward_weight: float,
        ctrl_cost_weight: float,
        exclude_current_positions_from_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.forward_reward_weight = float(forward_reward_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.skip_qpos = int(bool(exclude_current_positions_from_observation))

    def _observation_structure(self) -> dict[str, int]:
        return {"qpos": self.mj_model.nq - self.skip_qpos, "qvel": self.mj_model.nv}

    def _obs(self, data: Fields) -> jax.Array:
        qvel = jp.clip(data.qvel, -10.0, 10.0) if self.clip_qvel else data.qvel
        return jp.concatenate([data.qpos[self.skip_qpos :], qvel])

    def _run_terms(
        self, before: Fields, after: Fields, ctrl: jax.Array
    ) -> dict[str, jax.Array]:
        x_velocity = _forward_velocity(before.qpos[0], after.qpos[0], self.dt)
        return {
            "x_position": after.qpos[0],
            "x_velocity": x_velocity,
            "reward_forward": self.forward_reward_weight * x_velocity,
            "reward_ctrl": -self.ctrl_cost_weight * jp.sum(jp.square(ctrl)),
        }


class HalfCheetah(_XRunner):
    """HalfCheetah-v5: forward velocity minus control cost; never terminates."""

    xml_file = "half_cheetah.xml"
    frame_skip_default = 5
    qvel_noise = "normal"
    step_only_keys = ("x_velocity", "reward_forward", "reward_ctrl")

    def __init__(
        self,
        *,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.1,
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            **kwargs,
        )

    def _info(self, before: Fields, after: Fields, ctrl: jax.Array) -> dict[str, jax.Array]:
        return self._run_terms(before, after, ctrl)


class _Hopping(_XRunner):
    """Hopper/Walker2d: runner terms plus a healthy bonus and z/angle termination."""

    clip_qvel = True
    step_only_keys = ("x_velocity", "reward_forward", "reward_ctrl", "reward_survive")

    def __init__(
        self,
        *,
        healthy_reward: float,
        terminate_when_unhealthy: bool,
        healthy_z_range: Range,
        healthy_angle_range: Range,
        **kwargs: Any,
    ) -> None:
        super().__init__(terminate_when_unhealthy=terminate_when_unhealthy, **kwargs)
        self.healthy_reward = float(healthy_reward)
        self.healthy_z_range = tuple(map(float, healthy_z_range))
        self.healthy_angle_range = tuple(map(float, healthy_angle_range))

    def _is_healthy(self, data: Fields) -> jax.Array:
        z, angle = data.qpos[1], data.qpos[2]
        (zlo, zhi), (alo, ahi) = self.healthy_z_range, self.healthy_angle_range
        return (zlo < z) & (z < zhi) & (alo < angle) & (angle < ahi)

    def _info(self, before: Fields, after: Fields, ctrl: jax.Array) -> dict[str, jax.Array]:
        terms = self._run_terms(before, after, ctrl)
        return {
            **terms,
            "z_distance_from_origin": after.qpos[1] - self.init_qpos[1],
            "reward_survive": healthy_term(
                self._is_healthy(after), self.healthy_reward, after.qpos.dtype
            ),
        }


class Hopper(_Hopping):
    """Hopper-v5: also unhealthy when any of qpos[2:], qvel leaves `healthy_state_range`."""

    xml_file = "hopper.xml"
    frame_skip_default = 4

    def __init__(
        self,
        *,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-3,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_state_range: Range = (-100.0, 100.0),
        healthy_z_range: Range = (0.7, math.inf),
        healthy_angle_range: Range = (-0.2, 0.2),
        reset_noise_scale: float = 5e-3,
        exclude_current_positions_from_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            healthy_reward=healthy_reward,
            terminate_when_unhealthy=terminate_when_unhealthy,
            healthy_z_range=healthy_z_range,
            healthy_angle_range=healthy_angle_range,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            **kwargs,
        )
        self.healthy_state_range = tuple(map(float, healthy_state_range))

    def _is_healthy(self, data: Fields) -> jax.Array:
        state = state_vector(data)[2:]
        lo, hi = self.healthy_state_range
        return super()._is_healthy(data) & jp.all((lo < state) & (state < hi))


class Walker2d(_Hopping):
    """Walker2d-v5 (the v5 XML with symmetric feet friction)."""

    xml_file = "walker2d_v5.xml"
    frame_skip_default = 4

    def __init__(
        self,
        *,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-3,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: Range = (0.8, 2.0),
        healthy_angle_range: Range = (-1.0, 1.0),
        reset_noise_scale: float = 5e-3,
        exclude_current_positions_from_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            healthy_reward=healthy_reward,
            terminate_when_unhealthy=terminate_when_unhealthy,
            healthy_z_range=healthy_z_range,
            healthy_angle_range=healthy_angle_range,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            **kwargs,
        )


class _XYRunner(GymnasiumMJXEnv):
    """Swimmer/Ant/Humanoid: the root moves in x and y; both positions and velocities reported."""

    def __init__(
        self,
        *,
        forward_reward_weight: float,
        ctrl_cost_weight: float,
        exclude_current_positions_from_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.forward_reward_weight = float(forward_reward_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.skip_qpos = 2 * int(bool(exclude_current_positions_from_observation))

    def _xy_terms(
        self, xy_before: jax.Array, xy_after: jax.Array, data: Fields
    ) -> dict[str, jax.Array]:
        velocity = _forward_velocity(xy_before, xy_after, self.dt)
        return {
            "x_position": data.qpos[0],
            "y_position": data.qpos[1],
            "distance_from_origin": jp.linalg.norm(data.qpos[:2]),
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
            "reward_forward": self.forward_reward_weight * velocity[0],
        }


class Swimmer(_XYRunner):
    """Swimmer-v5: x velocity of the root slider minus control cost; never terminates."""

    xml_file = "swimmer.xml"
    frame_skip_default = 4
    step_only_keys = ("x_velocity", "y_velocity", "reward_forward", "reward_ctrl")

    def __init__(
        self,
        *,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-4,
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            **kwargs,
        )

    def _observation_structure(self) -> dict[str, int]:
        return {"qpos": self.mj_model.nq - self.skip_qpos, "qvel": self.mj_model.nv}

    def _obs(self, data: Fields) -> jax.Array:
        return jp.concatenate([data.qpos[self.skip_qpos :], data.qvel])

    def _info(self, before: Fields, after: Fields, ctrl: jax.Array) -> dict[str, jax.Array]:
        return {
            **self._xy_terms(before.qpos[:2], after.qpos[:2], after),
            "reward_ctrl": -self.ctrl_cost_weight * jp.sum(jp.square(ctrl)),
        }


class Ant(_XYRunner):
    """Ant-v5: torso velocity, healthy bonus, control and clipped contact-force costs."""

    xml_file = "ant.xml"
    read_fields = ("xpos",)
    frame_skip_default = 5
    qvel_noise = "normal"
    step_only_keys = (
        "x_velocity",
        "y_velocity",
        "reward_forward",
        "reward_ctrl",
        "reward_contact",
        "reward_survive",
    )

    def __init__(
        self,
        *,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.5,
        contact_cost_weight: float = 5e-4,
        healthy_reward: float = 1.0,
        main_body: int | str = 1,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: Range = (0.2, 1.0),
        contact_force_range: Range = (-1.0, 1.0),
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            terminate_when_unhealthy=terminate_when_unhealthy,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            **kwargs,
        )
        self.contact_cost_weight = float(contact_cost_weight)
        self.healthy_reward = float(healthy_reward)
        self.healthy_z_range = tuple(map(float, healthy_z_range))
        self.contact_force_range = tuple(map(float, contact_force_range))
        self.include_cfrc_ext = bool(include_cfrc_ext_in_observation)
        if isinstance(main_body, str):
            main_body = mujoco.mj_name2id(self.mj_model, mujoco.mjtObj.mjOBJ_BODY, main_body)
            if main_body < 0:
                raise ValueError("unknown main_body")
        self.main_body = int(main_body)

    @property
    def needs_cfrc_ext(self) -> bool:
        return self.include_cfrc_ext or self.contact_cost_weight != 0.0

    def _contact_forces(self, data: Fields) -> jax.Array:
        lo, hi = self.contact_force_range
        return jp.clip(data.cfrc_ext, lo, hi)

    def _observation_structure(self) -> dict[str, int]:
        m = self.mj_model
        return {
            "qpos": m.nq - self.skip_qpos,
            "qvel": m.nv,
            "cfrc_ext": 6 * (m.nbody - 1) * self.include_cfrc_ext,
        }

    def _obs(self, data: Fields) -> jax.Array:
        parts = [data.qpos[self.skip_qpos :], data.qvel]
        if self.include_cfrc_ext:
            parts.append(self._contact_forces(data)[1:].ravel())
        return jp.concatenate(parts)

    def _is_healthy(self, data: Fields) -> jax.Array:
        lo, hi = self.healthy_z_range
        z = data.qpos[2]
        return jp.all(jp.isfinite(state_vector(data))) & (lo <= z) & (z <= hi)

    def _info(self, before: Fields, after: Fields, ctrl: jax.Array) -> dict[str, jax.Array]:
        # Body positions are those MuJoCo left in the data (last RK4 stage), as in Gymnasium.
        xy_before, xy_after = before.xpos[self.main_body, :2], after.xpos[self.main_body, :2]
        contact_cost = self.contact_cost_weight * jp.sum(jp.square(self._contact_forces(after)))
        return {
            **self._xy_terms(xy_before, xy_after, after),
            "reward_ctrl": -self.ctrl_cost_weight * jp.sum(jp.square(ctrl)),
            "reward_contact": -contact_cost,
            "reward_survive": healthy_term(
                self._is_healthy(after), self.healthy_reward, after.qpos.dtype
            ),
        }


class Humanoid(_XYRunner):
    """Humanoid-v5: mass-centre velocity, healthy bonus, control and contact-force costs."""

    xml_file = "humanoid.xml"
    read_fields = ("xipos", "cinert", "cvel", "qfrc_actuator", "ten_length", "ten_velocity")
    frame_skip_default = 5
    step_only_keys = (
        "x_velocity",
        "y_velocity",
        "reward_forward",
        "reward_ctrl",
        "reward_contact",
        "reward_survive",
    )

    def __init__(
        self,
        *,
        forward_reward_weight: float = 1.25,
        ctrl_cost_weight: float = 0.1,
        contact_cost_weight: float = 5e-7,
        contact_cost_range: Range = (-math.inf, 10.0),
        healthy_reward: float = 5.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: Range = (1.0, 2.0),
        reset_noise_scale: float = 1e-2,
        exclude_current_positions_from_observation: bool = True,
        include_cinert_in_observation: bool = True,
        include_cvel_in_observation: bool = True,
        include_qfrc_actuator_in_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            terminate_when_unhealthy=terminate_when_unhealthy,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            **kwargs,
        )
        self.contact_cost_weight = float(contact_cost_weight)
        self.contact_cost_range = tuple(map(float, contact_cost_range))
        self.healthy_reward = float(healthy_reward)
        self.healthy_z_range = tuple(map(float, healthy_z_range))
        self.include_cinert = bool(include_cinert_in_observation)
        self.include_cvel = bool(include_cvel_in_observation)
        self.include_qfrc_actuator = bool(include_qfrc_actuator_in_observation)
        self.include_cfrc_ext = bool(include_cfrc_ext_in_observation)

    @property
    def needs_cfrc_ext(self) -> bool:
        return self.include_cfrc_ext or self.contact_cost_weight != 0.0

    def _observation_structure(self) -> dict[str, int]:
        m = self.mj_model
        nb = m.nbody - 1
        return {
            "qpos": m.nq - self.skip_qpos,
            "qvel": m.nv,
            "cinert": 10 * nb * self.include_cinert,
            "cvel": 6 * nb * self.include_cvel,
            "qfrc_actuator": (m.nv - 6) * self.include_qfrc_actuator,
            "cfrc_ext": 6 * nb * self.include_cfrc_ext,
        }

    def _obs(self, data: Fields) -> jax.Array:
        parts = [data.qpos[self.skip_qpos :], data.qvel]
        if self.include_cinert:
            parts.append(data.cinert[1:].ravel())
        if self.include_cvel:
            parts.append(data.cvel[1:].ravel())
        if self.include_qfrc_actuator:
            parts.append(data.qfrc_actuator[6:])
        if self.include_cfrc_ext:
            parts.append(data.cfrc_ext[1:].ravel())
        return jp.concatenate(parts)

    def _is_healthy(self, data: Fields) -> jax.Array:
        lo, hi = self.healthy_z_range
        z = data.qpos[2]
        return (lo < z) & (z < hi)

    def _info(self, before: Fields, after: Fields, ctrl: jax.Array) -> dict[str, jax.Array]:
        lo, hi = self.contact_cost_range
        contact_cost = self.contact_cost_weight * jp.sum(jp.square(after.cfrc_ext))
        return {
            **self._xy_terms(self.mass_center_xy(before), self.mass_center_xy(after), after),
            "tendon_length": after.ten_length,
            "tendon_velocity": after.ten_velocity,
            # Gymnasium squares `data.ctrl`, i.e. the action as given (before MuJoCo clamps it).
            "reward_ctrl": -self.ctrl_cost_weight * jp.sum(jp.square(ctrl)),
            "reward_contact": -jp.clip(contact_cost, lo, hi),
            "reward_survive": healthy_term(
                self._is_healthy(after), self.healthy_reward, after.qpos.dtype
            ),
        }


TASK_CLASSES: dict[str, type[GymnasiumMJXEnv]] = {
    "Humanoid-v5": Humanoid,
    "Ant-v5": Ant,
    "HalfCheetah-v5": HalfCheetah,
    "Walker2d-v5": Walker2d,
    "Hopper-v5": Hopper,
    "Swimmer-v5": Swimmer,
}
