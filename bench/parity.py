"""Parity harness of the MJX port against Gymnasium itself (used by the tests and
`bench/gymnasium_parity.py`; the C engine's open-loop check is tests/test_c_engine.py).

Two measurements, both with the same action sequence on both sides:

* `record_reference` + `compare_steps`: Gymnasium runs its own trajectory; before every step the
  C state is copied into MJX (everything `mj_step` reads -- qpos, qvel, act, warm start -- plus
  the stale post-RK4 body positions Gymnasium reads as "position before"), then both take the
  same step and every output is compared. Drift cannot accumulate, so a wrong weight, sign or
  obs ordering shows up as an O(1) error while physics differences stay at their per-step size.
* `open_loop_drift`: both start from the same state and run open loop; this measures how fast
  the two simulators separate (chaotic contact dynamics amplify any float difference).

On top: tolerances (`Tol`, `FLOAT32`, `FLOAT64`), `check`/`problems` (what the tests assert)
and `report` (JSON-able statistics for the benchmark). JAX cannot switch to float64 reliably
inside a process that already traced in float32, so float64 runs go through
`report_in_subprocess(x64=True, ...)`.

Requires `gymnasium` (a test dependency, not a runtime one).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any

import jax
import jax.numpy as jp
import numpy as np
from mujoco import mjx

from mjxrsm.envs.base import EnvState
from mjxrsm.envs.gymnasium_mjx import make as make_env
from mjxrsm.envs.gymnasium_mjx._core import GymnasiumMJXEnv

# Options of `make` that are ours, not Gymnasium's (not passed to `gymnasium.make`).
MJX_ONLY_OPTIONS = (
    "max_episode_steps",
    "impl",
    "nthread",
    "mujoco_contact_frames",
    "mjx_solver",
    "mjx_iterations",
    "mjx_ls_iterations",
)


@dataclasses.dataclass
class Transitions:
    """What one side returned for T steps."""

    obs: np.ndarray  # [T, obs] after each step
    reward: np.ndarray  # [T]
    terminated: np.ndarray  # [T] bool
    truncated: np.ndarray  # [T] bool (unwrapped Gymnasium: always False)
    info: dict[str, np.ndarray]  # [T, ...] step info


@dataclasses.dataclass
class Reference:
    """A Gymnasium trajectory: pre-step C state, actions, and what Gymnasium returned."""

    pre: dict[str, np.ndarray]  # SNAPSHOT_FIELDS -> [T, ...]: C data before each step
    actions: np.ndarray  # [T, act] in [-1, 1]
    out: Transitions


def gymnasium_env(name: str, c_solver: str | None = None, **kwargs: Any) -> Any:
    """Gymnasium's own env (unwrapped: the time limit is compared separately).

    `c_solver` ("newton" | "cg" | "pgs") swaps the C model's constraint solver, to separate the
    effect of MJX's solver substitution (Humanoid: PGS -> Newton) from MJX itself.
    """
    import gymnasium
    import mujoco

    gym_kwargs = {k: v for k, v in kwargs.items() if k not in MJX_ONLY_OPTIONS}
    env = gymnasium.make(name, **gym_kwargs).unwrapped
    if c_solver is not None:
        env.model.opt.solver = getattr(mujoco.mjtSolver, f"mjSOL_{c_solver.upper()}")
    return env


def _ctrl(gym: Any, action: np.ndarray) -> np.ndarray:
    low, high = gym.action_space.low.astype(np.float64), gym.action_space.high.astype(np.float64)
    return low + (np.asarray(action, np.float64) + 1.0) * 0.5 * (high - low)


def _transitions(steps: list[tuple[Any, ...]]) -> Transitions:
    obs, rew, term, trunc, infos = zip(*steps, strict=True)
    return Transitions(
        obs=np.asarray(obs, dtype=np.float64),
        reward=np.asarray(rew, dtype=np.float64),
        terminated=np.asarray(term, dtype=bool),
        truncated=np.asarray(trunc, dtype=bool),
        info={k: np.asarray([i[k] for i in infos], dtype=np.float64) for k in infos[0]},
    )


# What `mj_step` reads (the rest it recomputes) plus the body positions Gymnasium reads from the
# previous step's data (Ant's torso xpos, Humanoid's mass centre from xipos).
SNAPSHOT_FIELDS = ("qpos", "qvel", "act", "qacc_warmstart", "time", "xpos", "xipos")


def read_snapshot(mj_data: Any) -> dict[str, np.ndarray]:
    """Copy the C fields that determine the next Gymnasium step."""
    return {k: np.array(getattr(mj_data, k), dtype=np.float64) for k in SNAPSHOT_FIELDS}


def physics_from_snapshot(env: GymnasiumMJXEnv, snap: dict[str, Any]) -> mjx.Data:
    """MJX physics in exactly that C state, with the env's own leaf shapes and dtypes."""
    data0 = env.engine._data0
    return data0.replace(**{k: jp.asarray(v, getattr(data0, k).dtype) for k, v in snap.items()})


def committed(tree: Any) -> Any:
    """Place on the default device. jit keys its cache on committed-ness as well as shapes, so
    feeding host-made arrays and then jit outputs would compile the MJX step twice."""
    return jax.device_put(tree, jax.devices()[0])


def state_template(env: GymnasiumMJXEnv) -> EnvState:
    """An `EnvState` with the same pytree type as `env.step`'s output, so one compile of
    `jit(env.step)` serves snapshots and open-loop rollouts alike."""
    return env.state_from_physics(env.engine._data0)


def random_actions(rng: np.random.Generator, n: int, act_dim: int) -> np.ndarray:
    """Temporally correlated actions in [-1, 1] (AR(1)), so gaits and falls, not just jitter.

    float32, and Gymnasium gets exactly these values: a float64-only action difference of 1e-8
    is enough to flip a contact that is exactly at its margin in some RK4 sub-stage.
    """
    out = np.empty((n, act_dim))
    a = rng.uniform(-1.0, 1.0, act_dim)
    for t in range(n):
        a = np.clip(0.7 * a + 0.6 * rng.normal(size=act_dim), -1.0, 1.0)
        out[t] = a
    return out.astype(np.float32)


def record_reference(
    env: GymnasiumMJXEnv,
    name: str,
    seed: int,
    n_steps: int,
    c_solver: str | None = None,
    **kwargs: Any,
) -> Reference:
    """Run Gymnasium `n_steps` (resetting when it terminates) and record every transition."""
    gym = gymnasium_env(name, c_solver, **kwargs)
    actions = random_actions(np.random.default_rng(seed), n_steps, env.action_size)
    gym.reset(seed=seed)
    snaps, steps = [], []
    for t in range(n_steps):
        snaps.append(read_snapshot(gym.data))
        steps.append(gym.step(_ctrl(gym, actions[t])))
        if steps[-1][2]:
            gym.reset(seed=seed + 1 + t)
    gym.close()
    return Reference(
        pre={k: np.stack([s[k] for s in snaps]) for k in SNAPSHOT_FIELDS},
        actions=actions,
        out=_transitions(steps),
    )


def c_steps(name: str, ref: Reference, c_solver: str | None = None, **kwargs: Any) -> Transitions:
    """Gymnasium's own step from every reference snapshot, e.g. with another C solver."""
    gym = gymnasium_env(name, c_solver, **kwargs)
    gym.reset(seed=0)
    steps = []
    for t in range(len(ref.actions)):
        for k in SNAPSHOT_FIELDS:
            if k == "time":
                gym.data.time = float(ref.pre[k][t])
            else:
                getattr(gym.data, k)[...] = ref.pre[k][t]
        steps.append(gym.step(_ctrl(gym, ref.actions[t])))
    gym.close()
    return _transitions(steps)


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


def mjx_steps(env: GymnasiumMJXEnv, ref: Reference, step_fn: Any = None) -> Transitions:
    """MJX's step from every reference snapshot with the reference action."""
    step_fn = step_fn or jax.jit(env.step)
    template = state_template(env)
    outs = []
    for t in range(len(ref.actions)):
        snap = {k: v[t] for k, v in ref.pre.items()}
        state = template.replace(physics=physics_from_snapshot(env, snap))
        out = step_fn(committed(state), committed(ref.actions[t]))
        out = jax.device_get(out)
        outs.append((out.obs, out.reward, out.terminated > 0, out.truncated > 0, out.info))
    return _transitions(outs)


def compare_steps(env: GymnasiumMJXEnv, ref: Reference, step_fn: Any = None) -> StepErrors:
    """Step MJX from every reference snapshot with the same action and compare all outputs."""
    return step_errors(env, mjx_steps(env, ref, step_fn), ref.out)


def step_errors(env: GymnasiumMJXEnv, out: Transitions, ref: Transitions) -> StepErrors:
    """Per-step |out - ref| for every quantity Gymnasium returns."""
    obs = out.obs
    if obs.shape != ref.obs.shape:
        raise AssertionError(f"obs shape {obs.shape} != Gymnasium's {ref.obs.shape}")
    obs_err = np.abs(obs - ref.obs)
    missing = sorted(set(ref.info) - set(out.info))
    if missing:
        raise AssertionError(f"info keys missing vs Gymnasium: {missing}")
    info_err = {}
    for k, want in ref.info.items():
        got = out.info[k].reshape(want.shape)
        info_err[k] = np.abs(got - want).reshape(len(want), -1).max(axis=1)
    return StepErrors(
        obs={k: obs_err[:, s].max(axis=1) for k, s in _segments(env).items()},
        obs_scale={k: float(np.abs(ref.obs[:, s]).max()) for k, s in _segments(env).items()},
        reward=np.abs(out.reward - ref.reward),
        info=info_err,
        terminated_mismatch=out.terminated != ref.terminated,
        truncated_mismatch=out.truncated != ref.truncated,
    )


def open_loop_drift(
    env: GymnasiumMJXEnv,
    name: str,
    seed: int,
    n_steps: int,
    step_fn: Any = None,
    stop_at_termination: bool = True,
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """Same start state, same actions, no re-synchronisation: per-step |qpos|, |qvel|, |reward|
    errors until either side terminates (arrays are cut there)."""
    gym = gymnasium_env(name, **kwargs)
    gym.reset(seed=seed)
    actions = random_actions(np.random.default_rng(seed), n_steps, env.action_size)
    step_fn = step_fn or jax.jit(env.step)
    physics = physics_from_snapshot(env, read_snapshot(gym.data))
    state = committed(state_template(env).replace(physics=physics))
    errs: dict[str, list[float]] = {"qpos": [], "qvel": [], "obs": [], "reward": []}
    for t in range(n_steps):
        o, r, te, _, _ = gym.step(_ctrl(gym, actions[t]))
        state = step_fn(state, committed(actions[t]))
        d = state.physics
        errs["qpos"].append(float(np.abs(np.asarray(d.qpos) - gym.data.qpos).max()))
        errs["qvel"].append(float(np.abs(np.asarray(d.qvel) - gym.data.qvel).max()))
        errs["obs"].append(float(np.abs(np.asarray(state.obs) - o).max()))
        errs["reward"].append(float(abs(float(state.reward) - r)))
        if stop_at_termination and (te or float(state.terminated) > 0):
            break
    gym.close()
    return {k: np.asarray(v) for k, v in errs.items()}


# ------------------------------------------------------------------------- tolerances, checks


@dataclasses.dataclass(frozen=True)
class Tol:
    """Per-step bound `atol + rtol * scale` (scale = max |Gymnasium value| of the quantity)."""

    rtol: float
    atol: float
    outlier_frac: float  # fraction of steps allowed beyond the bound
    terminated_frac: float  # fraction of steps allowed to disagree on `terminated`


# float32 (what training uses): rare outliers are contact (de)activations inside an RK4 sub-stage
# that float32 rounding flips (they vanish in float64).
FLOAT32 = Tol(rtol=1e-4, atol=1e-5, outlier_frac=0.02, terminated_frac=0.01)
# float64: every step, C MuJoCo to rounding.
FLOAT64 = Tol(rtol=1e-6, atol=1e-8, outlier_frac=0.0, terminated_frac=0.0)


# Ant and Humanoid (free-joint roots): MJX's dynamics match C MuJoCo's `mj_forward` to 1e-13 at
# every RK4 stage, but C MuJoCo 4.0's `mj_step` combines the stages of a rotating free body
# slightly differently from the textbook RK4 that MJX implements (~1e-7 m/s per substep in
# flight); contacts entering their margin inside a step amplify that into rare O(0.1) outliers.
# This holds in float64 too, hence one tolerance for both precisions (see docs/TASKS.md).
FREE_JOINT = Tol(rtol=3e-3, atol=1e-5, outlier_frac=0.05, terminated_frac=0.01)
FREE_JOINT_TASKS = ("Ant-v5", "Humanoid-v5")


def tolerance(name: str, x64: bool | None = None) -> Tol:
    """The tolerance the tests hold task `name` to, in this process's precision by default."""
    if name in FREE_JOINT_TASKS:
        return FREE_JOINT
    x64 = bool(jax.config.jax_enable_x64) if x64 is None else x64
    return FLOAT64 if x64 else FLOAT32


def problems(
    errors: StepErrors, ref: Transitions, tol: Tol, check_terminated: bool = True
) -> list[str]:
    """Every quantity whose per-step error breaks `tol`, described; empty if all is well."""
    quantities = [(f"obs/{k}", v, errors.obs_scale[k]) for k, v in errors.obs.items()]
    quantities.append(("reward", errors.reward, float(np.abs(ref.reward).max())))
    quantities += [
        (f"info/{k}", v, float(np.abs(ref.info[k]).max())) for k, v in errors.info.items()
    ]
    out = []
    for name, err, scale in quantities:
        bound = tol.atol + tol.rtol * scale
        bad = err > bound
        if bad.mean() > tol.outlier_frac:
            out.append(
                f"{name}: {bad.sum()}/{bad.size} steps off by more than {bound:.2g} "
                f"(max {err.max():.3g}, scale {scale:.3g})"
            )
    if check_terminated and errors.terminated_mismatch.mean() > tol.terminated_frac:
        out.append(f"terminated: differs on {errors.terminated_mismatch.sum()} steps")
    if errors.truncated_mismatch.any():
        out.append(f"truncated: differs on {errors.truncated_mismatch.sum()} steps")
    return out


def stats(errors: list[StepErrors]) -> dict[str, Any]:
    """max / p99 / median per quantity over all steps of all runs, plus counts and scales."""
    series: dict[str, list[np.ndarray]] = {}
    for e in errors:
        for k, v in e.obs.items():
            series.setdefault(f"obs/{k}", []).append(v)
        series.setdefault("reward", []).append(e.reward)
        for k, v in e.info.items():
            series.setdefault(f"info/{k}", []).append(v)
    out: dict[str, Any] = {"max": {}, "p99": {}, "median": {}}
    for k, parts in series.items():
        v = np.concatenate(parts)
        out["max"][k] = float(v.max())
        out["p99"][k] = float(np.percentile(v, 99))
        out["median"][k] = float(np.median(v))
    out["counts"] = {
        "steps": int(sum(e.reward.size for e in errors)),
        "terminated_mismatches": int(sum(e.terminated_mismatch.sum() for e in errors)),
        "truncated_mismatches": int(sum(e.truncated_mismatch.sum() for e in errors)),
    }
    out["obs_scale"] = {
        f"obs/{k}": max(e.obs_scale[k] for e in errors) for k in errors[0].obs_scale
    }
    return out


def report(
    name: str,
    seeds: list[int],
    n_steps: int,
    c_solver: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    gym_kwargs: dict[str, Any] | None = None,
    check_terminated: bool = True,
) -> dict[str, Any]:
    """Per-step parity over several seeds, JSON-able: problems (vs `tolerance(name)`), stats,
    compile time. Precision is whatever this process runs JAX in."""
    env = make_env(name, **{"impl": "jax", **(env_kwargs or {})})  # the MJX port
    step = jax.jit(env.step)
    t0 = time.perf_counter()
    zero = committed(np.zeros(env.action_size, np.float32))
    jax.block_until_ready(step(committed(state_template(env)), zero))
    compile_s = time.perf_counter() - t0
    errors, found = [], []
    for seed in seeds:
        ref = record_reference(env, name, seed, n_steps, c_solver=c_solver, **(gym_kwargs or {}))
        e = compare_steps(env, ref, step)
        errors.append(e)
        found += [
            f"seed {seed}: {p}" for p in problems(e, ref.out, tolerance(name), check_terminated)
        ]
    return {
        "x64": bool(jax.config.jax_enable_x64),
        "problems": found,
        "stats": stats(errors),
        "compile_s": compile_s,
    }


def report_in_subprocess(x64: bool, **kwargs: Any) -> dict[str, Any]:
    """`report(**kwargs)` in a fresh Python with JAX_ENABLE_X64 set as asked."""
    code = (
        "import json, sys\n"
        "from bench import parity\n"
        "print('@@REPORT' + json.dumps(parity.report(**json.loads(sys.argv[1]))))\n"
    )
    # The child must import this very checkout, wherever it is run from.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "JAX_ENABLE_X64": "1" if x64 else "0", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(kwargs)],
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@REPORT")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"parity subprocess failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("@@REPORT") :])
