"""MuJoCo Playground's DM Control Suite tasks behind our registry: names, reset/step shapes,
rewards equal to Playground's own rollout, unavailable robot tasks, and a training smoke run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco_playground")

from mjxrsm.envs import make_env, playground, wrap_for_training  # noqa: E402


def test_task_lists_match_playground():
    from mujoco_playground import dm_control_suite, locomotion, manipulation

    assert set(playground.TASKS) == set(dm_control_suite.ALL_ENVS)
    assert set(playground.UNAVAILABLE) == {*locomotion.ALL_ENVS, *manipulation.ALL_ENVS}


def test_robot_task_is_unavailable_with_reason():
    with pytest.raises(ValueError, match="Menagerie"):
        make_env("Go1JoystickFlatTerrain")


def test_cartpole_shapes_and_rewards_match_playground():
    from mujoco_playground import dm_control_suite

    env = make_env("CartpoleSwingup")
    assert (env.observation_size, env.action_size, env.episode_length) == (5, 1, 1000)
    assert env.dt == pytest.approx(0.01)
    ref = dm_control_suite.load("CartpoleSwingup", config_overrides={"impl": "jax"})
    actions = jax.random.uniform(jax.random.PRNGKey(1), (20, 1), minval=-1, maxval=1)
    key = jax.random.PRNGKey(0)

    def ours(key):
        def body(s, a):
            s = env.step(s, a)
            return s, (s.obs, s.reward, s.terminated)
        return jax.lax.scan(body, env.reset(key), actions)[1]

    def theirs(key):
        def body(s, a):
            s = ref.step(s, a)
            return s, (s.obs, s.reward, s.done)
        return jax.lax.scan(body, ref.reset(key), actions)[1]

    (obs, rew, term), (obs_r, rew_r, done_r) = jax.jit(ours)(key), jax.jit(theirs)(key)
    assert obs.shape == (20, 5) and rew.shape == (20,) and term.shape == (20,)
    # Same computation; separately compiled, so allow XLA's float reassociation.
    np.testing.assert_allclose(np.asarray(rew), np.asarray(rew_r), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(obs), np.asarray(obs_r), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(term), np.asarray(done_r))
    assert float(rew.sum()) > 0


def test_wrapped_batched_step():
    env = wrap_for_training(make_env("CartpoleSwingup"), 5)
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 3))
    step = jax.jit(jax.vmap(env.step))
    for _ in range(5):
        state = step(state, jnp.zeros((3, 1)))
    assert state.obs.shape == (3, 5)
    np.testing.assert_array_equal(np.asarray(state.truncated), np.ones(3))


@pytest.mark.slow
def test_training_smoke(tmp_path):
    from helpers_runs import tiny_config

    from mjxrsm.train import run

    config = tiny_config("sac", env="CartpoleSwingup")
    summary = run(config, tmp_path / "run", stream=open("/dev/null", "w"))
    assert summary["env_steps"] == config.total_env_steps
    assert np.isfinite(summary["final_eval_return"])
