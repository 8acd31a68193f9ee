"""The MJX Gymnasium tasks against Gymnasium itself, step by step from identical states.

Gymnasium runs its own trajectory (correlated random actions, resets on termination); before
every step its C state is copied into MJX, both take the same step, and obs (per segment),
reward, every info term, terminated and truncated are compared. Drift cannot accumulate, so a
wrong weight, sign, range or obs ordering shows on (nearly) every step, while physics differences
stay at their per-step size. See docs/TASKS.md for the measured numbers.

Tolerances (`parity.tolerance(name)`, per quantity; `scale` = max |Gymnasium value| of it):
* float32 (what training uses): |err| <= 1e-5 + 1e-4 * scale on >= 98% of steps. The rest are
  contact (de)activations inside an RK4 sub-stage that float32 rounding flips; they vanish in
  float64.
* float64 (JAX x64, in a subprocess): |err| <= 1e-8 + 1e-6 * scale on every step, no
  terminated mismatch -- MJX is C MuJoCo to rounding.
* Ant and Humanoid (free-joint roots), both precisions: |err| <= 1e-5 + 3e-3 * scale on >= 95%
  of steps. MJX matches C's forward dynamics to 1e-13 at every RK4 stage, but C MuJoCo 4.0's
  RK4 step differs slightly from textbook RK4 for a rotating free body, and contacts entering
  their margin within a step amplify that (docs/TASKS.md). Humanoid's float64 run compares with
  C MuJoCo using Newton (MJX has no PGS); the PGS -> Newton change is tested in C alone.

Fast tests (default `make test`): Hopper and HalfCheetah in float32, resets, and Gymnasium-side
mutations that the checker must catch (reusing the same compiled step). Slow tests: all six
tasks, several seeds, hundreds of steps, float32 and float64, open-loop drift, time limit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from bench import parity  # noqa: E402
from mjxrsm.envs import make_env, wrap_for_training  # noqa: E402
from mjxrsm.envs.gymnasium_mjx import TASKS, make  # noqa: E402

# Compiling one MJX step takes 15-100 s on CPU: compile once per task in this process.
_COMPILED: dict[str, tuple[Any, Any]] = {}


def compiled(name: str) -> tuple[Any, Any]:
    """(env, jit(env.step)) with default options, shared by the tests of this module."""
    if name not in _COMPILED:
        env = make(name, impl="jax")  # the MJX port (test_c_engine.py: the C engine)
        _COMPILED[name] = (env, jax.jit(env.step))
    return _COMPILED[name]


def check_parity(
    name: str,
    seed: int,
    n_steps: int,
    gym_kwargs: dict[str, Any] | None = None,
    check_terminated: bool = True,
) -> parity.Reference:
    """Per-step parity in this process's precision (float32 unless JAX_ENABLE_X64)."""
    env, step = compiled(name)
    ref = parity.record_reference(env, name, seed, n_steps, **(gym_kwargs or {}))
    errors = parity.compare_steps(env, ref, step)
    found = parity.problems(errors, ref.out, parity.tolerance(name), check_terminated)
    assert not found, f"{name} seed {seed}:\n" + "\n".join(found)
    return ref


# ------------------------------------------------------------------------------------ fast


def test_tasks_match_gymnasium_spaces_and_time_limit():
    """Names, obs/act sizes, obs layout and the 1000-step limit, for all six (no compile)."""
    assert TASKS == (
        "Humanoid-v5",
        "Ant-v5",
        "HalfCheetah-v5",
        "Walker2d-v5",
        "Hopper-v5",
        "Swimmer-v5",
    )
    for name in TASKS:
        env = make(name)
        gym = gymnasium.make(name)
        assert env.observation_size == gym.observation_space.shape[0], name
        assert env.action_size == gym.action_space.shape[0], name
        np.testing.assert_allclose(
            np.stack([env.ctrl_low, env.ctrl_high], -1), gym.unwrapped.model.actuator_ctrlrange
        )
        assert env.episode_length == gym.spec.max_episode_steps == 1000, name
        assert wrap_for_training(env).episode_length == 1000
        assert env.frame_skip == gym.unwrapped.frame_skip and env.dt == gym.unwrapped.dt, name
        want = {
            k: v
            for k, v in gym.unwrapped.observation_structure.items()
            if v and k != "skipped_qpos"
        }
        assert env.observation_structure == want, name
        gym.close()
    assert isinstance(make_env("Hopper-v5"), type(make("Hopper-v5")))  # the registry's route
    with pytest.raises(ValueError, match="unknown task"):
        make("Hopper-v4")
    with pytest.raises(TypeError):
        make("Hopper-v5", ctrl_cost_weigth=1.0)  # typo must not be silently ignored


def test_options_change_layout_like_gymnasium():
    """Gymnasium's observation options produce Gymnasium's sizes (no compile)."""
    cases = [
        ("Ant-v5", {"include_cfrc_ext_in_observation": False}),
        ("Ant-v5", {"exclude_current_positions_from_observation": False}),
        (
            "Humanoid-v5",
            {"include_cinert_in_observation": False, "include_cfrc_ext_in_observation": False},
        ),
        ("Hopper-v5", {"exclude_current_positions_from_observation": False}),
        ("Swimmer-v5", {"exclude_current_positions_from_observation": False}),
    ]
    for name, kwargs in cases:
        gym = gymnasium.make(name, **kwargs)
        assert make(name, **kwargs).observation_size == gym.observation_space.shape[0]
        gym.close()


def test_hopper_per_step_parity_float32():
    """Hopper: terminations (z, angle, state range), clipped qvel in obs, healthy bonus."""
    ref = check_parity("Hopper-v5", seed=0, n_steps=150)
    assert ref.out.terminated.sum() >= 3  # the trajectory does cover falls


def test_halfcheetah_per_step_parity_float32():
    check_parity("HalfCheetah-v5", seed=0, n_steps=150)


@pytest.mark.parametrize(
    "name, gym_kwargs, broken",
    [
        ("HalfCheetah-v5", {"ctrl_cost_weight": 0.11}, "info/reward_ctrl"),
        ("HalfCheetah-v5", {"forward_reward_weight": 1.05}, "info/reward_forward"),
        ("Hopper-v5", {"healthy_reward": 1.5}, "info/reward_survive"),
        ("Hopper-v5", {"healthy_angle_range": (-0.15, 0.15)}, "terminated"),
    ],
)
def test_checker_catches_a_wrong_weight_or_range(name, gym_kwargs, broken):
    """Change one Gymnasium option (MJX keeps the default): the comparison must flag it."""
    env, step = compiled(name)
    ref = parity.record_reference(env, name, 0, 150, **gym_kwargs)
    found = parity.problems(parity.compare_steps(env, ref, step), ref.out, parity.FLOAT32)
    assert any(p.startswith(broken) for p in found), found


def test_checker_catches_a_wrong_obs_order():
    """Swap qpos and qvel blocks of Gymnasium's obs: both segments must be flagged."""
    env, step = compiled("HalfCheetah-v5")
    ref = parity.record_reference(env, "HalfCheetah-v5", 1, 40)
    nq = env.observation_structure["qpos"]
    obs = ref.out.obs
    swapped = dataclasses.replace(ref.out, obs=np.concatenate([obs[:, nq:], obs[:, :nq]], axis=1))
    mjx_out = parity.mjx_steps(env, ref, step)
    assert not parity.problems(parity.step_errors(env, mjx_out, ref.out), ref.out, parity.FLOAT32)
    found = parity.problems(parity.step_errors(env, mjx_out, swapped), swapped, parity.FLOAT32)
    assert {p.split(":")[0] for p in found} >= {"obs/qpos", "obs/qvel"}, found


def check_reset(name: str, n: int = 256) -> None:
    """Reset obs/info equal Gymnasium's for the same start state; noise has Gymnasium's law."""
    env = make(name, impl="jax")
    states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), n))
    qpos = np.asarray(states.physics.qpos, np.float64)
    qvel = np.asarray(states.physics.qvel, np.float64)
    gym = parity.gymnasium_env(name)
    _, info0 = gym.reset(seed=0)
    scale = env.reset_noise_scale
    init_qpos = np.asarray(gym.init_qpos)
    assert np.all(np.abs(qpos - init_qpos) <= scale * (1 + 1e-6))
    # Uniform noise has std s/sqrt(3), Gaussian noise std s: tell which law each task uses.
    qvel_std = qvel.std()
    want_std = scale if env.qvel_noise == "normal" else scale / np.sqrt(3.0)
    assert abs(qvel_std - want_std) < 0.1 * want_std, (qvel_std, want_std)
    assert abs((qpos - init_qpos).std() - scale / np.sqrt(3.0)) < 0.1 * scale
    for i in range(3):
        mujoco = pytest.importorskip("mujoco")
        mujoco.mj_resetData(gym.model, gym.data)
        gym.set_state(qpos[i], qvel[i])
        want_obs = gym._get_obs()
        want_info = gym._get_reset_info()
        np.testing.assert_allclose(np.asarray(states.obs[i]), want_obs, rtol=1e-4, atol=1e-5)
        assert set(want_info) <= set(states.info) and set(info0) == set(want_info)
        for k, v in want_info.items():
            np.testing.assert_allclose(np.asarray(states.info[k][i]), v, rtol=1e-4, atol=1e-5)
        for k in env.step_only_keys:  # Gymnasium's reset info lacks these: zeros here
            assert float(np.abs(np.asarray(states.info[k][i])).max()) == 0.0
    gym.close()


def test_reset_swimmer():
    """(Swimmer: contact-free, so its reset compiles in seconds.)"""
    check_reset("Swimmer-v5")


# ------------------------------------------------------------------------------------ slow


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_per_step_parity_float32(name):
    """Three seeds x 300 steps; for tasks that terminate, one seed lets Gymnasium run on after
    falling (fallen bodies: many contacts), comparing everything but `terminated` there."""
    for seed in (0, 1, 2):
        keep_going = seed == 2 and name not in ("HalfCheetah-v5", "Swimmer-v5")
        check_parity(
            name,
            seed,
            300,
            gym_kwargs={"terminate_when_unhealthy": False} if keep_going else None,
            check_terminated=not keep_going,
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_per_step_parity_float64(name):
    """float64 (a subprocess with JAX x64): C MuJoCo to rounding for the planar tasks; Ant and
    Humanoid within `parity.FREE_JOINT` (Humanoid vs C with Newton, MJX's stand-in for PGS)."""
    c_solver = "newton" if name == "Humanoid-v5" else None
    rep = parity.report_in_subprocess(
        x64=True, name=name, seeds=[0, 1], n_steps=200, c_solver=c_solver
    )
    assert rep["x64"]
    assert not rep["problems"], "\n".join(rep["problems"])


@pytest.mark.slow
def test_humanoid_pgs_to_newton_is_small_in_c():
    """The one deliberate model change (PGS -> Newton) is small in C MuJoCo itself."""
    env = make("Humanoid-v5", impl="jax")
    ref = parity.record_reference(env, "Humanoid-v5", 0, 200)
    errors = parity.step_errors(env, parity.c_steps("Humanoid-v5", ref, "newton"), ref.out)
    assert not parity.problems(errors, ref.out, parity.FLOAT32)


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_open_loop_drift_starts_at_rounding(name):
    """Open loop the trajectories separate (chaotic contacts), but the first steps agree."""
    env, step = compiled(name)
    drift = parity.open_loop_drift(env, name, 3, 10, step, stop_at_termination=False)
    assert drift["obs"][:3].max() < 1e-3, drift["obs"]
    assert drift["reward"][:3].max() < 1e-3, drift["reward"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_reset(name):
    check_reset(name)


@pytest.mark.slow
def test_time_limit_truncates_like_gymnasium():
    """Wrapped for training, HalfCheetah truncates at step 1000 exactly like Gymnasium's
    TimeLimit (and never terminates)."""
    gym = gymnasium.make("HalfCheetah-v5")
    gym.reset(seed=0)
    gym_truncated = [gym.step(np.zeros(6))[3] for _ in range(1000)]
    assert gym_truncated[-1] and not any(gym_truncated[:-1])

    env = wrap_for_training(make("HalfCheetah-v5", impl="jax"))

    def run(key):
        state = env.reset(key)

        def body(s, _):
            s = env.step(s, np.zeros(6, np.float32))
            return s, (s.truncated, s.terminated)

        return jax.lax.scan(body, state, None, length=1001)[1]

    truncated, terminated = jax.jit(run)(jax.random.key(0))
    truncated = np.asarray(truncated)
    assert truncated[999] == 1 and truncated[:999].sum() == 0 and truncated[1000] == 0
    assert np.asarray(terminated).sum() == 0
