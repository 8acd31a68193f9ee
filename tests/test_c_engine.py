"""The C engine (`env.impl=c`) against Gymnasium itself: the same dynamics, bit for bit.

Both sides start from the same state (Gymnasium is set to our reset's qpos/qvel) and run open
loop with the same controls; when an episode terminates both restart from our next reset. The
C engine's integration state (carried as float64 bits) must equal Gymnasium's `mj_getState`
exactly on every step, observations must equal Gymnasium's cast to float32 exactly, rewards and
info terms (computed in float32 from those values) to float32 rounding, terminations exactly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jp
import mujoco
import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from bench import parity  # noqa: E402
from mjxrsm.envs.engines.c_engine import widen_to_float64_bits  # noqa: E402
from mjxrsm.envs.gymnasium_mjx import TASKS, make  # noqa: E402

_INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION


def ctrl_slice(model: Any) -> slice:
    """Where the controls lie in the mjSTATE_INTEGRATION vector (components in bit order)."""
    start = 0
    for bit in range(int(mujoco.mjtState.mjSTATE_CTRL).bit_length() - 1):
        if int(_INTEGRATION) & (1 << bit):
            start += mujoco.mj_stateSize(model, 1 << bit)
    return slice(start, start + model.nu)


def run_parity(name: str, n_steps: int, seed: int = 0, gym_kwargs: dict[str, Any] | None = None,
               env_kwargs: dict[str, Any] | None = None) -> list[str]:
    """Problems found over `n_steps` open-loop steps (empty when the engines agree)."""
    env = make(name, impl="c", **(env_kwargs or {}))
    gym = parity.gymnasium_env(name, **(gym_kwargs or {}))
    gym.reset(seed=seed)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    actions = parity.random_actions(np.random.default_rng(seed), n_steps, env.action_size)
    key = jax.random.key(seed)

    def restart(key: jax.Array) -> Any:
        state = reset(key)
        mujoco.mj_resetData(gym.model, gym.data)  # what Gymnasium's reset does first
        gym.set_state(np.asarray(state.physics.fields["qpos"], np.float64),
                      np.asarray(state.physics.fields["qvel"], np.float64))
        return state

    key, k = jax.random.split(key)
    state = restart(k)
    problems: list[str] = []
    gym_state = np.empty(mujoco.mj_stateSize(gym.model, _INTEGRATION))
    ctrl = ctrl_slice(env.mj_model)
    for t in range(n_steps):
        state = step(state, jp.asarray(actions[t]))
        ours = np.asarray(state.physics.state).view(np.float64).ravel()
        # Gymnasium gets the very controls our step applied (the affine action map may round
        # differently inside and outside a jitted function).
        obs, reward, terminated, _, info = gym.step(ours[ctrl].copy())
        mujoco.mj_getState(gym.model, gym.data, gym_state, _INTEGRATION)
        if not np.array_equal(ours, gym_state):
            problems.append(f"step {t}: state differs by {np.abs(ours - gym_state).max():.3g}")
        if not np.array_equal(np.asarray(state.obs), obs.astype(np.float32)):
            err = np.abs(np.asarray(state.obs, np.float64) - obs).max()
            problems.append(f"step {t}: obs differs by {err:.3g}")
        if abs(float(state.reward) - reward) > 1e-4 + 1e-5 * abs(reward):
            problems.append(f"step {t}: reward {float(state.reward)} vs {reward}")
        for k_, v in info.items():
            if k_.startswith("reward_") and abs(float(state.info[k_]) - v) > 1e-4 + 1e-5 * abs(v):
                problems.append(f"step {t}: {k_} {float(state.info[k_])} vs {v}")
        if bool(state.terminated > 0) != bool(terminated):
            problems.append(f"step {t}: terminated {bool(state.terminated)} vs {terminated}")
        if float(state.info["physics_diverged"]):
            problems.append(f"step {t}: diverged")
        if problems:
            break
        if terminated:
            key, k = jax.random.split(key)
            state = restart(k)
    gym.close()
    return problems


@pytest.mark.parametrize("name", TASKS)
def test_c_engine_is_gymnasium(name):
    assert run_parity(name, 120) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_c_engine_is_gymnasium_over_1000_steps(name):
    for seed in (1, 2):
        assert run_parity(name, 1000, seed=seed) == []


@pytest.mark.parametrize(
    "gym_kwargs",
    [{"ctrl_cost_weight": 0.11}, {"frame_skip": 4}, {"reset_noise_scale": 0.0}],
)
def test_parity_check_catches_a_mutation(gym_kwargs):
    """A wrong weight, frame skip or (through the restart) nothing at all: only real
    differences fail, and each of these does."""
    problems = run_parity("HalfCheetah-v5", 30, gym_kwargs=gym_kwargs)
    if gym_kwargs == {"reset_noise_scale": 0.0}:  # unused after set_state: must still agree
        assert problems == []
    else:
        assert problems


def test_batched_steps_equal_single_steps_and_diverged_envs_end():
    """One callback per vector step steps every env exactly as alone; a state MuJoCo flags as
    diverged truncates its episode with the flag set, and the others carry on."""
    env = make("Hopper-v5", impl="c")
    keys = jax.random.split(jax.random.key(3), 4)
    states = jax.vmap(env.reset)(keys)
    actions = jp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, env.action_size)),
                         jp.float32)
    batched = jax.jit(jax.vmap(env.step))(states, actions)
    for i in range(4):
        single = jax.jit(env.step)(jax.tree.map(lambda x, i=i: x[i], states), actions[i])
        np.testing.assert_array_equal(single.physics.state, batched.physics.state[i])
        np.testing.assert_array_equal(single.obs, batched.obs[i])
    # A NaN velocity makes MuJoCo reset that simulation with a bad-qvel warning.
    rows = np.asarray(states.physics.state).view(np.float64).copy()  # [4, nstate, 1]
    rows[1, 1 + env.mj_model.nq, 0] = np.nan  # qvel[0] (after time and qpos)
    broken = states.replace(physics=states.physics.replace(state=jp.asarray(rows.view(np.uint32))))
    out = jax.jit(jax.vmap(env.step))(broken, actions)
    assert np.asarray(out.info["physics_diverged"]).tolist() == [0.0, 1.0, 0.0, 0.0]
    assert float(out.truncated[1] + out.terminated[1]) == 1.0
    assert np.all(np.isfinite(np.asarray(out.obs)))


def test_c_engine_refusals():
    with pytest.raises(ValueError, match="apply to MJX"):
        make("Hopper-v5", impl="c", mjx_solver="cg")
    with pytest.raises(ValueError, match="not an engine"):
        make("Hopper-v5", impl="mujoco")


def test_training_on_the_c_engine_resumes_exactly(tmp_path):
    """The whole physics state is in the carry: a checkpointed chunk resumes bit for bit."""
    from helpers_runs import tiny_config

    from mjxrsm.core.trainer import make_trainer
    from mjxrsm.rundir.checkpoint import Checkpointer

    c = tiny_config("sac", env="hopper")
    assert c.env.name == "Hopper-v5"
    c.env.impl = "c"
    tr = make_trainer(c)
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, _ = tr.train_chunk(s)
    ckpt = Checkpointer(tmp_path / "ckpt", keep=1, include_buffer=True)
    ckpt.save(16, s, {"env_steps": 16})
    ckpt.close()
    straight, m_straight = tr.train_chunk(s)
    restored, _ = Checkpointer(tmp_path / "ckpt", keep=1, include_buffer=True).restore(
        tr.init(jax.random.PRNGKey(1)))
    resumed, m_resumed = tr.train_chunk(restored)
    for k in m_straight:
        np.testing.assert_array_equal(m_straight[k], m_resumed[k], err_msg=k)
    for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert "train/physics_diverged" in m_straight


def test_reset_where_resets_only_the_lanes_asked_for():
    """The auto-reset's forward runs only for finished episodes; those lanes equal a full reset
    bit for bit, the others are zeros (discarded by the wrapper's select)."""
    env = make("Ant-v5", impl="c")
    keys = jax.random.split(jax.random.key(5), 4)
    full = jax.jit(jax.vmap(env.reset))(keys)
    needed = jp.array([True, False, True, False])
    some = jax.jit(jax.vmap(env.reset_where))(keys, needed)
    none = jax.jit(jax.vmap(env.reset_where))(keys, jp.zeros(4, bool))
    for i in (0, 2):
        np.testing.assert_array_equal(some.physics.state[i], full.physics.state[i])
        np.testing.assert_array_equal(some.obs[i], full.obs[i])
    assert not np.asarray(some.physics.state[1]).any() and not np.asarray(none.physics.state).any()


def test_float64_bits_built_in_jax_equal_numpys_cast():
    """The bits a JAX-built reset state holds: every float32 (random bit patterns included:
    subnormals, infinities, signalling NaNs) widened exactly as numpy widens it."""
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, 1.0, -1.5, 1e-45, -3e-42, 1.17e-38, 3.4e38, np.inf, -np.inf,
                        np.nan], np.float32)
    patterns = rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32)
    values = np.concatenate([special, rng.standard_normal(1000).astype(np.float32),
                             patterns.view(np.float32)])
    got = np.asarray(jax.jit(widen_to_float64_bits)(values))
    with np.errstate(invalid="ignore"):
        want = values.astype(np.float64).view(np.uint32).reshape(-1, 2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Swimmer-v5"])
def test_resets_built_in_jax_equal_the_host_reset(name):
    """A task that reads only qpos/qvel resets without a host call; its state is bit for bit
    the one `mj_resetData` + qpos/qvel + `mj_forward` leaves (the step's parity covers the rest)."""
    env = make(name, impl="c")
    engine = env.engine
    assert engine.resets_in_jax
    qpos, qvel = jax.vmap(env._reset_state)(jax.random.split(jax.random.key(3), 4))
    qpos = qpos.at[0, 0].set(1e-44)  # a subnormal
    in_jax = jax.jit(jax.vmap(engine.init))(qpos, qvel)
    on_host = engine._host_init(np.asarray(qpos), np.asarray(qvel))
    for a, b in zip(jax.tree.leaves(in_jax), jax.tree.leaves(on_host), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not make("Ant-v5", impl="c").engine.resets_in_jax  # reads derived fields
