"""Parity harness against Gymnasium itself (used by the tests and `bench/gymnasium_parity.py`).

Two measurements, both with the same action sequence on both sides:

* `record_reference` + `compare_steps`: Gymnasium runs its own trajectory; before every step the
  C state is copied into MJX (everything `mj_step` reads -- qpos, qvel, act, warm start -- plus
  the stale post-RK4 body positions Gymnasium reads as "position before"), then both take the
  same step and every output is compared. Drift cannot accumulate, so a wrong weight, sign or obs ordering shows up
  as an O(1) error while physics differences stay at their per-step size.
* `open_loop_drift`: both start from the same state and run open loop; this measures how fast
  the two simulators separate (chaotic contact dynamics amplify any float difference).

Requires `gymnasium` (a test dependency, not a runtime one).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jp
import numpy as np
from mujoco import mjx

from mjxrsm.envs.base import EnvState
from mjxrsm.envs.gymnasium_mjx._core import GymnasiumMJXEnv

# Options of `make` that are ours, not Gymnasium's (not passed to `gymnasium.make`).
MJX_ONLY_OPTIONS = (
    "max_episode_steps",
    "mujoco_contact_frames",
    "mjx_solver",
    "mjx_iterations",
    "mjx_ls_iterations",
)


@dataclasses.dataclass
class Reference:
    """A Gymnasium trajectory: pre-step physics snapshots and what Gymnasium returned."""

    pre: dict[str, np.ndarray]  # SNAPSHOT_FIELDS -> [T, ...]: C data before each step
    actions: np.ndarray  # [T, act] in [-1, 1]
    obs: np.ndarray  # [T, obs] after each step
    reward: np.ndarray  # [T]
    terminated: np.ndarray  # [T] bool
    truncated: np.ndarray  # [T] bool (unwrapped env: always False)
    info: dict[str, np.ndarray]  # [T, ...] Gymnasium's step info


def gymnasium_env(name: str, **kwargs: Any) -> Any:
    """Gymnasium's own env (unwrapped: the time limit is compared separately)."""
    import gymnasium

    gym_kwargs = {k: v for k, v in kwargs.items() if k not in MJX_ONLY_OPTIONS}
    return gymnasium.make(name, **gym_kwargs).unwrapped


# What `mj_step` reads (the rest it recomputes) plus the body positions Gymnasium reads from the
# previous step's data (Ant's torso xpos, Humanoid's mass centre from xipos).
SNAPSHOT_FIELDS = ("qpos", "qvel", "act", "qacc_warmstart", "time", "xpos", "xipos")


def read_snapshot(mj_data: Any) -> dict[str, np.ndarray]:
    """Copy the C fields that determine the next Gymnasium step."""
    return {k: np.array(getattr(mj_data, k), dtype=np.float64) for k in SNAPSHOT_FIELDS}


def physics_from_snapshot(env: GymnasiumMJXEnv, snap: dict[str, Any]) -> mjx.Data:
    """MJX physics in exactly that C state, with the env's own leaf shapes and dtypes."""
    data0 = env._data0
    return data0.replace(**{k: jp.asarray(v, getattr(data0, k).dtype) for k, v in snap.items()})


def state_template(env: GymnasiumMJXEnv) -> EnvState:
    """An `EnvState` with the same pytree type as `env.step`'s output, so one compile of
    `jit(env.step)` serves snapshots and open-loop rollouts alike."""
    return env.state_from_data(env._data0)


def random_actions(rng: np.random.Generator, n: int, act_dim: int) -> np.ndarray:
    """Temporally correlated actions in [-1, 1] (AR(1)), so gaits and falls, not just jitter."""
    out = np.empty((n, act_dim))
    a = rng.uniform(-1.0, 1.0, act_dim)
    for t in range(n):
        a = np.clip(0.7 * a + 0.6 * rng.normal(size=act_dim), -1.0, 1.0)
        out[t] = a
    return out


def record_reference(
    env: GymnasiumMJXEnv, name: str, seed: int, n_steps: int, **kwargs: Any
) -> Reference:
    """Run Gymnasium `n_steps` (resetting when it terminates) and record every transition."""
    gym = gymnasium_env(name, **kwargs)
    rng = np.random.default_rng(seed)
    actions = random_actions(rng, n_steps, env.action_size)
    low, high = gym.action_space.low.astype(np.float64), gym.action_space.high.astype(np.float64)
    gym.reset(seed=seed)
    snaps, obs, rew, term, trunc, infos = [], [], [], [], [], []
    for t in range(n_steps):
        snaps.append(read_snapshot(gym.data))
        ctrl = low + (actions[t] + 1.0) * 0.5 * (high - low)
        o, r, te, tr, info = gym.step(ctrl)
        obs.append(o)
        rew.append(r)
        term.append(te)
        trunc.append(tr)
        infos.append(info)
        if te:
            gym.reset(seed=seed + 1 + t)
    gym.close()
    return Reference(
        pre={k: np.stack([s[k] for s in snaps]) for k in SNAPSHOT_FIELDS},
        actions=actions.astype(np.float32),
        obs=np.asarray(obs),
        reward=np.asarray(rew, dtype=np.float64),
        terminated=np.asarray(term, dtype=bool),
        truncated=np.asarray(trunc, dtype=bool),
        info={k: np.asarray([i[k] for i in infos], dtype=np.float64) for k in infos[0]},
    )


@dataclasses.dataclass
class StepErrors:
    """Per-step absolute errors of MJX vs Gymnasium from identical states."""

    obs: dict[str, np.ndarray]  # segment -> [T] max |error| over the segment
    obs_scale: dict[str, float]  # segment -> max |Gymnasium value| (for reading the errors)
    reward: np.ndarray  # [T]
    info: dict[str, np.ndarray]  # key -> [T] max |error|
    terminated_mismatch: np.ndarray  # [T] bool
    truncated_mismatch: np.ndarray  # [T] bool

    def summary(self) -> dict[str, float]:
        """Max deviation per quantity (what the README/TASKS table reports)."""
        out = {f"obs/{k}": float(v.max()) for k, v in self.obs.items()}
        out["reward"] = float(self.reward.max())
        out.update({f"info/{k}": float(v.max()) for k, v in self.info.items()})
        out["terminated_mismatches"] = int(self.terminated_mismatch.sum())
        out["truncated_mismatches"] = int(self.truncated_mismatch.sum())
        return out


def _segments(env: GymnasiumMJXEnv) -> dict[str, slice]:
    out, start = {}, 0
    for k, n in env.observation_structure.items():
        out[k] = slice(start, start + n)
        start += n
    return out


def mjx_steps(env: GymnasiumMJXEnv, ref: Reference, step_fn: Any = None) -> EnvState:
    """MJX's step from every reference snapshot with the reference action, stacked [T]."""
    step_fn = step_fn or jax.jit(env.step)
    template = state_template(env)
    outs = []
    for t in range(len(ref.actions)):
        snap = {k: v[t] for k, v in ref.pre.items()}
        state = template.replace(physics=physics_from_snapshot(env, snap))
        out = step_fn(state, jp.asarray(ref.actions[t]))
        outs.append(jax.device_get(out.replace(physics=None)))
    return jax.tree.map(lambda *x: np.stack(x), *outs)


def compare_steps(env: GymnasiumMJXEnv, ref: Reference, step_fn: Any = None) -> StepErrors:
    """Step MJX from every reference snapshot with the same action and compare all outputs."""
    out = mjx_steps(env, ref, step_fn)
    obs = np.asarray(out.obs, dtype=np.float64)
    if obs.shape != ref.obs.shape:
        raise AssertionError(f"obs shape {obs.shape} != Gymnasium's {ref.obs.shape}")
    obs_err = np.abs(obs - ref.obs)
    missing = sorted(set(ref.info) - set(out.info))
    if missing:
        raise AssertionError(f"info keys missing vs Gymnasium: {missing}")
    info_err = {}
    for k, want in ref.info.items():
        got = np.asarray(out.info[k], dtype=np.float64).reshape(want.shape)
        info_err[k] = np.abs(got - want).reshape(len(want), -1).max(axis=1)
    return StepErrors(
        obs={k: obs_err[:, s].max(axis=1) for k, s in _segments(env).items()},
        obs_scale={k: float(np.abs(ref.obs[:, s]).max()) for k, s in _segments(env).items()},
        reward=np.abs(np.asarray(out.reward, dtype=np.float64) - ref.reward),
        info=info_err,
        terminated_mismatch=(np.asarray(out.terminated) > 0) != ref.terminated,
        truncated_mismatch=(np.asarray(out.truncated) > 0) != ref.truncated,
    )


def open_loop_drift(
    env: GymnasiumMJXEnv, name: str, seed: int, n_steps: int, step_fn: Any = None, **kwargs: Any
) -> dict[str, np.ndarray]:
    """Same start state, same actions, no re-synchronisation: per-step |qpos|, |qvel|, |reward|
    errors until either side terminates (arrays are cut there)."""
    gym = gymnasium_env(name, **kwargs)
    gym.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = random_actions(rng, n_steps, env.action_size)
    low, high = gym.action_space.low.astype(np.float64), gym.action_space.high.astype(np.float64)
    step_fn = step_fn or jax.jit(env.step)
    physics = physics_from_snapshot(env, read_snapshot(gym.data))
    state = state_template(env).replace(physics=physics)
    errs: dict[str, list[float]] = {"qpos": [], "qvel": [], "obs": [], "reward": []}
    for t in range(n_steps):
        o, r, te, _, _ = gym.step(low + (actions[t] + 1.0) * 0.5 * (high - low))
        state = step_fn(state, jp.asarray(actions[t], jp.float32))
        d = state.physics
        errs["qpos"].append(float(np.abs(np.asarray(d.qpos) - gym.data.qpos).max()))
        errs["qvel"].append(float(np.abs(np.asarray(d.qvel) - gym.data.qvel).max()))
        errs["obs"].append(float(np.abs(np.asarray(state.obs) - o).max()))
        errs["reward"].append(float(abs(float(state.reward) - r)))
        if te or float(state.terminated) > 0:
            break
    gym.close()
    return {k: np.asarray(v) for k, v in errs.items()}
