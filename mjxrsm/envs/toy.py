"""Tiny pure-JAX tasks for tests and smoke runs.

They compile in about a second (MJX tasks take tens of seconds on CPU), so trainer unit tests can
run real rollouts. They are not benchmarks: do not report learning results on them.

- `point_mass`: a 2-D point pushed by a force towards the origin; terminates when it leaves the
  box |pos|_inf <= 2, which makes it the cheap way to exercise termination and auto-reset.
- `pendulum`: Gymnasium's Pendulum-v1 swing-up (same constants and equations); never terminates,
  so episodes end only by the time limit (truncation).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from mjxrsm.envs import catalog
from mjxrsm.envs.base import EnvState

TASKS = catalog.TOY_TASKS


@struct.dataclass
class PointMassPhysics:
    pos: jax.Array  # [2]
    vel: jax.Array  # [2]


@dataclasses.dataclass(frozen=True)
class PointMass:
    """Unit mass in the plane, obs = [pos, vel], action = force in [-1, 1]^2.

    reward = -|pos|_2 - ctrl_cost * |a|^2 (evaluated after the step); terminates when
    |pos|_inf > box. Initial pos ~ U[-init_range, init_range]^2, vel = 0.
    """

    episode_length: int = 100
    dt: float = 0.1
    box: float = 2.0
    init_range: float = 1.0
    ctrl_cost: float = 0.01

    @property
    def observation_size(self) -> int:
        return 4

    @property
    def action_size(self) -> int:
        return 2

    def reset(self, key: jax.Array) -> EnvState:
        pos = jax.random.uniform(key, (2,), minval=-self.init_range, maxval=self.init_range)
        physics = PointMassPhysics(pos=pos, vel=jnp.zeros(2))
        zero = jnp.zeros(())
        return EnvState(
            physics=physics,
            obs=jnp.concatenate([physics.pos, physics.vel]),
            reward=zero,
            terminated=zero,
            truncated=zero,
            info={"reward_dist": zero, "reward_ctrl": zero},
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        a = jnp.clip(action, -1.0, 1.0)
        # Semi-implicit Euler: the velocity update is used for the position update.
        vel = state.physics.vel + self.dt * a
        pos = state.physics.pos + self.dt * vel
        reward_dist = -jnp.linalg.norm(pos)
        reward_ctrl = -self.ctrl_cost * jnp.sum(jnp.square(a))
        terminated = (jnp.max(jnp.abs(pos)) > self.box).astype(jnp.float32)
        return EnvState(
            physics=PointMassPhysics(pos=pos, vel=vel),
            obs=jnp.concatenate([pos, vel]),
            reward=reward_dist + reward_ctrl,
            terminated=terminated,
            truncated=jnp.zeros(()),
            info={"reward_dist": reward_dist, "reward_ctrl": reward_ctrl},
        )


@struct.dataclass
class PendulumPhysics:
    theta: jax.Array  # [] angle, 0 = upright
    theta_dot: jax.Array  # []


@dataclasses.dataclass(frozen=True)
class Pendulum:
    """Gymnasium Pendulum-v1: obs = [cos th, sin th, th_dot], action in [-1, 1] -> torque [-2, 2].

    reward = -(normalize(th)^2 + 0.1 th_dot^2 + 0.001 u^2) on the pre-step state, like Gymnasium.
    Initial th ~ U[-pi, pi], th_dot ~ U[-1, 1]. Never terminates.
    """

    episode_length: int = 200
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    length: float = 1.0
    max_speed: float = 8.0
    max_torque: float = 2.0

    @property
    def observation_size(self) -> int:
        return 3

    @property
    def action_size(self) -> int:
        return 1

    def _obs(self, p: PendulumPhysics) -> jax.Array:
        return jnp.stack([jnp.cos(p.theta), jnp.sin(p.theta), p.theta_dot])

    def reset(self, key: jax.Array) -> EnvState:
        high = jnp.array([jnp.pi, 1.0])
        th, th_dot = jax.random.uniform(key, (2,), minval=-high, maxval=high)
        physics = PendulumPhysics(theta=th, theta_dot=th_dot)
        zero = jnp.zeros(())
        return EnvState(
            physics=physics,
            obs=self._obs(physics),
            reward=zero,
            terminated=zero,
            truncated=zero,
            info={},
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        th, th_dot = state.physics.theta, state.physics.theta_dot
        u = self.max_torque * jnp.clip(action[0], -1.0, 1.0)
        th_norm = jnp.mod(th + jnp.pi, 2 * jnp.pi) - jnp.pi
        cost = th_norm**2 + 0.1 * th_dot**2 + 0.001 * u**2
        gravity = 3.0 * self.g / (2.0 * self.length) * jnp.sin(th)
        torque = 3.0 / (self.m * self.length**2) * u
        new_th_dot = th_dot + (gravity + torque) * self.dt
        new_th_dot = jnp.clip(new_th_dot, -self.max_speed, self.max_speed)
        new_th = th + new_th_dot * self.dt
        physics = PendulumPhysics(theta=new_th, theta_dot=new_th_dot)
        return EnvState(
            physics=physics,
            obs=self._obs(physics),
            reward=-cost,
            terminated=jnp.zeros(()),
            truncated=jnp.zeros(()),
            info={},
        )


def make(name: str, **kwargs) -> PointMass | Pendulum:
    """Builds a toy task; kwargs override the dataclass fields (e.g. episode_length)."""
    if name == "point_mass":
        return PointMass(**kwargs)
    if name == "pendulum":
        return Pendulum(**kwargs)
    raise ValueError(f"unknown toy task {name!r}; choose from {TASKS}")


def task_class(name: str) -> type:
    """The class `make(name)` builds (its fields are the task's options)."""
    return {"point_mass": PointMass, "pendulum": Pendulum}[name]
