"""Toy tasks, the training wrapper, the registry, and one Brax MJX smoke test."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import mjxrsm.envs as envs
from mjxrsm.envs import make_env, toy, wrap_for_training
from mjxrsm.envs.base import EnvState

GYM_MODULE = "mjxrsm.envs.gymnasium_mjx"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# A fully controlled env for wrapper edge cases.


@struct.dataclass
class _CounterPhysics:
    count: jax.Array
    episode_id: jax.Array


@dataclasses.dataclass(frozen=True)
class CounterEnv:
    """obs = [count, episode_id]; reward of step k is k; terminates when count == term_at."""

    term_at: int = 1_000_000
    episode_length: int = 1_000
    observation_size: int = 2
    action_size: int = 1

    def _state(self, p, reward, terminated):
        obs = jnp.stack([p.count.astype(jnp.float32), p.episode_id])
        info = {"inner_count": p.count}
        return EnvState(p, obs, reward, terminated, jnp.zeros(()), info)

    def reset(self, key):
        p = _CounterPhysics(jnp.zeros((), jnp.int32), jax.random.uniform(key))
        return self._state(p, jnp.zeros(()), jnp.zeros(()))

    def step(self, state, action):
        p = state.physics.replace(count=state.physics.count + 1)
        terminated = (p.count == self.term_at).astype(jnp.float32)
        return self._state(p, p.count.astype(jnp.float32), terminated)


def _inner_step(wrapped, state, action):
    """What the unwrapped env would return from `state`: the ground truth for `final_obs`."""
    inner_info = {k: v for k, v in state.info.items() if k not in envs.wrappers.WRAPPER_INFO_KEYS}
    return wrapped.env.step(state.replace(info=inner_info), action)


def _abstract(tree):
    """(path, shape, dtype) of every leaf: what lax.scan needs to stay constant."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(p), jnp.shape(x), jnp.result_type(x)) for p, x in leaves]


# ---------------------------------------------------------------------------------------------
# Toy tasks.


@pytest.mark.parametrize("name", toy.TASKS)
def test_toy_shapes_and_constant_structure(name):
    env = make_env(name)
    key = jax.random.PRNGKey(0)
    s0 = jax.jit(env.reset)(key)
    s1 = jax.jit(env.step)(s0, jnp.zeros(env.action_size))
    for s in (s0, s1):
        assert s.obs.shape == (env.observation_size,)
        assert s.reward.shape == () and s.terminated.shape == () and s.truncated.shape == ()
        assert s.obs.dtype == jnp.float32 and s.reward.dtype == jnp.float32
    # Same pytree (keys, shapes, dtypes) after reset and step, as lax.scan requires.
    assert _abstract(s0) == _abstract(s1)
    assert env.episode_length == {"point_mass": 100, "pendulum": 200}[name]


@pytest.mark.parametrize("name", toy.TASKS)
def test_toy_determinism(name):
    env = make_env(name)
    a = jnp.full(env.action_size, 0.3)
    s_a = env.reset(jax.random.PRNGKey(1))
    s_b = env.reset(jax.random.PRNGKey(1))
    s_c = env.reset(jax.random.PRNGKey(2))
    np.testing.assert_array_equal(s_a.obs, s_b.obs)
    assert not np.allclose(s_a.obs, s_c.obs)
    n_a, n_b = env.step(s_a, a), env.step(s_b, a)
    np.testing.assert_array_equal(n_a.obs, n_b.obs)
    np.testing.assert_array_equal(n_a.reward, n_b.reward)


def test_pendulum_matches_gymnasium_equations():
    env = make_env("pendulum")
    th, thdot, a = 2.9, -1.5, 0.4
    s = env.reset(jax.random.PRNGKey(0))
    s = s.replace(physics=s.physics.replace(theta=jnp.float32(th), theta_dot=jnp.float32(thdot)))
    out = env.step(s, jnp.array([a]))
    # Gymnasium Pendulum-v1 by hand: g=10, m=l=1, dt=0.05, torque = 2 * a.
    u = 2.0 * a
    cost = (((th + np.pi) % (2 * np.pi)) - np.pi) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
    new_thdot = np.clip(thdot + (3 * 10 / 2 * np.sin(th) + 3.0 * u) * 0.05, -8, 8)
    new_th = th + new_thdot * 0.05
    np.testing.assert_allclose(out.reward, -cost, rtol=1e-5)
    np.testing.assert_allclose(
        out.obs, [np.cos(new_th), np.sin(new_th), new_thdot], rtol=1e-5, atol=1e-6
    )
    # Torque saturates at 2 and speed at 8.
    fast = s.replace(physics=s.physics.replace(theta_dot=jnp.float32(7.9)))
    assert float(env.step(fast, jnp.array([5.0])).obs[2]) == pytest.approx(8.0)
    assert float(out.terminated) == 0.0
    # Initial state ranges: theta in [-pi, pi], theta_dot in [-1, 1].
    s0 = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(3), 256))
    assert float(jnp.abs(s0.physics.theta_dot).max()) <= 1.0
    assert float(jnp.abs(s0.physics.theta).max()) > 2.5


def test_point_mass_reward_and_termination():
    env = make_env("point_mass")
    s = env.reset(jax.random.PRNGKey(0))
    p = s.physics.replace(pos=jnp.array([1.95, 0.0]), vel=jnp.array([0.0, 0.0]))
    out = env.step(s.replace(physics=p), jnp.array([1.0, -1.0]))
    # vel = 0.1 * a, pos += 0.1 * vel.
    np.testing.assert_allclose(out.obs, [1.96, -0.01, 0.1, -0.1], rtol=1e-6)
    np.testing.assert_allclose(out.reward, -np.hypot(1.96, 0.01) - 0.01 * 2.0, rtol=1e-6)
    assert float(out.terminated) == 0.0
    p = p.replace(vel=jnp.array([1.0, 0.0]))
    out = env.step(s.replace(physics=p), jnp.array([0.0, 0.0]))
    assert float(out.obs[0]) > 2.0 and float(out.terminated) == 1.0
    # Initial positions are random within the unit box, velocities zero.
    s0 = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(3), 256))
    assert float(jnp.abs(s0.obs[:, :2]).max()) <= 1.0
    assert float(jnp.abs(s0.obs[:, :2]).max()) > 0.9
    assert float(jnp.abs(s0.obs[:, 2:]).max()) == 0.0


# ---------------------------------------------------------------------------------------------
# Training wrapper.


def test_time_limit_truncates_at_exactly_episode_length():
    env = wrap_for_training(make_env("pendulum"), episode_length=5)
    assert env.episode_length == 5
    assert wrap_for_training(make_env("pendulum")).episode_length == 200
    step = jax.jit(env.step)
    a = jnp.array([0.5])
    s = env.reset(jax.random.PRNGKey(0))
    for t in range(1, 11):
        truth = _inner_step(env, s, a)
        s = step(s, a)
        at_limit = t % 5 == 0
        assert float(s.truncated) == float(at_limit), t
        assert float(s.terminated) == 0.0
        assert int(s.info["steps"]) == (0 if at_limit else t % 5)
        assert int(s.info["completed_length"]) == (5 if at_limit else 0)
        np.testing.assert_allclose(s.info["final_obs"], truth.obs, rtol=1e-6)
        if at_limit:
            # obs is a new episode's first observation, not the truncated one.
            assert not np.allclose(s.obs, truth.obs)
            assert float(s.physics.theta_dot) == pytest.approx(float(s.obs[2]))
        else:
            np.testing.assert_array_equal(s.obs, s.info["final_obs"])


def test_termination_auto_resets_and_keeps_true_final_obs():
    env = wrap_for_training(make_env("point_mass"))
    step = jax.jit(env.step)
    push = jnp.array([1.0, 0.0])
    s = env.reset(jax.random.PRNGKey(0))
    rewards = []
    for _ in range(60):
        truth = _inner_step(env, s, push)
        s = step(s, push)
        rewards.append(float(truth.reward))
        if float(s.terminated):
            break
        assert float(s.info["completed_return"]) == 0.0
        assert float(s.info["episode_return"]) == pytest.approx(sum(rewards), rel=1e-5)
    else:
        pytest.fail("pushing +x never left the box")

    assert float(s.truncated) == 0.0
    assert float(s.reward) == pytest.approx(rewards[-1])
    final_obs = np.asarray(s.info["final_obs"])
    np.testing.assert_array_equal(final_obs, np.asarray(truth.obs))
    assert final_obs[0] > 2.0  # the true terminal observation, outside the box
    # obs is a fresh first observation: inside the unit box, at rest, and physics agrees with it.
    assert np.abs(np.asarray(s.obs[:2])).max() <= 1.0 and np.all(np.asarray(s.obs[2:]) == 0)
    np.testing.assert_array_equal(s.physics.pos, s.obs[:2])
    # Episode statistics of the finished episode.
    assert float(s.info["completed_return"]) == pytest.approx(sum(rewards), rel=1e-5)
    assert int(s.info["completed_length"]) == len(rewards)
    assert float(s.info["episode_return"]) == 0.0
    assert int(s.info["episode_length"]) == 0 and int(s.info["steps"]) == 0
    # The next step continues the new episode, not the old one.
    nxt = step(s, jnp.zeros(2))
    assert float(nxt.terminated) == 0.0 and int(nxt.info["steps"]) == 1
    np.testing.assert_allclose(nxt.obs[:2], s.obs[:2], atol=1e-6)
    # The inner env's own info entries pass through.
    assert {"reward_dist", "reward_ctrl"} <= set(nxt.info)


def test_termination_on_the_time_limit_step_is_not_truncation():
    env = wrap_for_training(CounterEnv(term_at=3), episode_length=3)
    s = env.reset(jax.random.PRNGKey(0))
    for _ in range(3):
        s = env.step(s, jnp.zeros(1))
    assert float(s.terminated) == 1.0 and float(s.truncated) == 0.0
    assert float(s.info["completed_return"]) == 1.0 + 2.0 + 3.0
    np.testing.assert_array_equal(s.info["final_obs"][0], 3.0)
    assert float(s.obs[0]) == 0.0


def test_resets_are_fresh_and_random():
    env = wrap_for_training(CounterEnv(), episode_length=1)
    step = jax.jit(jax.vmap(env.step))
    s = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 3))
    ids = [np.asarray(s.obs[:, 1])]
    for _ in range(4):
        s = step(s, jnp.zeros((3, 1)))
        assert np.all(np.asarray(s.truncated) == 1.0)
        ids.append(np.asarray(s.obs[:, 1]))
    # Every reset (5 per lane, 3 lanes) draws a different initial state.
    assert len(np.unique(np.concatenate(ids))) == 15


def test_vmap_scan_bookkeeping_invariants():
    num_envs, horizon = 4, 300
    env = wrap_for_training(make_env("point_mass"), episode_length=30)
    s0 = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), num_envs))
    # reset and step give the identical pytree (keys, shapes, dtypes), so lax.scan can carry it.
    s1 = jax.eval_shape(jax.vmap(env.step), s0, jnp.zeros((num_envs, 2)))
    assert _abstract(s0) == _abstract(s1)
    assert s0.info["steps"].dtype == jnp.int32 and s0.info["episode_return"].dtype == jnp.float32

    # Lanes 0-1 drift outward (terminations within 24 steps), lanes 2-3 hold still (truncations).
    actions = jnp.array([[1.0, 0.3], [-0.6, -1.0], [0.0, 0.0], [0.0, 0.0]])

    @jax.jit
    def rollout(s):
        def body(s, _):
            nxt = jax.vmap(env.step)(s, actions)
            return nxt, (nxt.reward, nxt.terminated, nxt.truncated, nxt.obs, nxt.info)

        return jax.lax.scan(body, s, None, length=horizon)

    last, (rew, term, trunc, obs, info) = rollout(s0)
    rew, term, trunc = np.asarray(rew), np.asarray(term), np.asarray(trunc)
    done = (term + trunc) > 0
    assert term[:, :2].sum() > 3 and term[:, 2:].sum() == 0
    assert trunc[:, 2:].sum() == 2 * (horizon // 30) and trunc[:, :2].sum() == 0
    assert not np.any((term > 0) & (trunc > 0))
    # Every reward lands in exactly one completed episode or the still-running one.
    np.testing.assert_allclose(
        rew.sum(0),
        np.asarray(info["completed_return"]).sum(0) + np.asarray(last.info["episode_return"]),
        rtol=1e-4,
    )
    lengths = np.asarray(info["completed_length"])
    assert lengths.sum(0).tolist() == (horizon - np.asarray(last.info["steps"])).tolist()
    assert np.all((lengths > 0) == done)
    assert np.all(np.asarray(info["completed_return"])[~done] == 0.0)
    final_obs = np.asarray(info["final_obs"])
    np.testing.assert_array_equal(final_obs[~done], np.asarray(obs)[~done])
    assert np.all(np.abs(final_obs[term > 0][:, :2]).max(-1) > 2.0)
    assert np.all(np.abs(np.asarray(obs)[term > 0][:, :2]).max(-1) <= 1.0)


def test_wrapper_rejects_reserved_info_keys():
    once = wrap_for_training(make_env("point_mass"))
    with pytest.raises(ValueError, match="reserved"):
        wrap_for_training(once).reset(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="positive"):
        wrap_for_training(make_env("point_mass"), episode_length=0)


# ---------------------------------------------------------------------------------------------
# Registry.


def test_unknown_env_lists_choices_and_suggests(monkeypatch):
    monkeypatch.setitem(sys.modules, GYM_MODULE, None)  # gymnasium tasks absent
    with pytest.raises(ValueError) as err:
        make_env("point_mas")
    msg = str(err.value)
    assert "Did you mean 'point_mass'?" in msg
    for name in ("point_mass", "pendulum", "brax_humanoid", "inverted_pendulum"):
        assert name in msg
    with pytest.raises(ValueError, match="Did you mean 'brax_halfcheetah'"):
        make_env("brax_halfcheeta")


def test_available_envs_and_kwargs(monkeypatch):
    monkeypatch.setitem(sys.modules, GYM_MODULE, None)
    names = envs.available_envs()
    assert names[:2] == ["point_mass", "pendulum"]
    assert {"brax_humanoid", "brax_ant", "brax_hopper", "inverted_double_pendulum"} <= set(names)
    assert "brax_swimmer" not in names
    assert "humanoid" not in names  # the alias of Humanoid-v5, absent with the Gymnasium tasks
    assert make_env("point_mass", episode_length=7).episode_length == 7
    # Brax's swimmer fails before brax is even imported, with a message saying why.
    with pytest.raises(ValueError, match="does not support the MJX backend"):
        make_env("brax_swimmer")


def test_gymnasium_tasks_dispatch_lazily(monkeypatch):
    made = []
    fake = types.ModuleType(GYM_MODULE)
    fake.TASKS = ("Fake-v5",)
    fake.make = lambda name, **kw: made.append((name, kw)) or "env"
    monkeypatch.setitem(sys.modules, GYM_MODULE, fake)
    assert "Fake-v5" in envs.available_envs()  # (Playground's tasks, if installed, follow)
    assert make_env("Fake-v5", episode_length=3) == "env"
    assert made == [("Fake-v5", {"impl": "auto", "nthread": 0, "episode_length": 3})]
    with pytest.raises(ValueError, match="Did you mean 'Fake-v5'"):
        make_env("Fake-v4")


def test_import_is_lazy():
    code = (
        "import sys, mjxrsm.envs as e; e.make_env('point_mass'); "
        "bad = [m for m in ('brax', 'mujoco', 'mujoco.mjx', '" + GYM_MODULE + "') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


# ---------------------------------------------------------------------------------------------
# Brax MJX (one compile of inverted_pendulum, ~20 s on CPU).


def test_brax_metrics_become_constant_info_keys(monkeypatch, tmp_path):
    """Abstract evaluation only (no compile): metric keys and dtypes match after reset and step."""
    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT into the cwd on model warnings
    env = wrap_for_training(make_env("reacher"))
    assert (env.observation_size, env.action_size, env.episode_length) == (11, 2, 1000)
    s0 = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    s1 = jax.eval_shape(env.step, s0, jnp.zeros(2))
    assert _abstract(s0) == _abstract(s1)
    assert {"metric/reward_ctrl", "metric/reward_dist"} <= set(s1.info)
    assert s1.info["metric/reward_dist"].shape == () and s1.terminated.dtype == jnp.float32


def test_mjx_state_fingerprint_is_the_same_in_every_process(monkeypatch, tmp_path):
    """MJX keeps numpy arrays (repr'd with memory addresses) in its pytree metadata; the
    checkpoint fingerprint must not see them, or `--resume` refuses every MJX run's checkpoint."""
    from mjxrsm.rundir.checkpoint import _fingerprint

    monkeypatch.chdir(tmp_path)
    states = [jax.eval_shape(wrap_for_training(make_env("inverted_pendulum")).reset,
                             jax.random.PRNGKey(0)) for _ in range(2)]
    assert str(jax.tree.structure(states[0])) != str(jax.tree.structure(states[1]))  # addresses
    assert _fingerprint(states[0]) == _fingerprint(states[1])


def test_brax_inverted_pendulum_vmap_terminates_and_resets(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    env = wrap_for_training(make_env("inverted_pendulum"), episode_length=1000)
    assert (env.observation_size, env.action_size) == (4, 1)
    horizon = 6
    # Lane 0 pushes the cart hard (pole falls within a few steps); lane 1 does nothing.
    actions = jnp.broadcast_to(jnp.array([[1.0], [0.0]]), (horizon, 2, 1))

    @jax.jit
    def rollout(key):
        s0 = jax.vmap(env.reset)(jax.random.split(key, 2))

        def body(s, a):
            nxt = jax.vmap(env.step)(s, a)
            return nxt, (nxt.obs, nxt.terminated, nxt.truncated, nxt.info)

        return s0, jax.lax.scan(body, s0, actions)

    s0, (last, (obs, term, trunc, info)) = rollout(jax.random.PRNGKey(0))
    assert s0.obs.shape == (2, 4) and obs.shape == (horizon, 2, 4)
    assert _abstract(s0) == _abstract(last)
    term, obs, final_obs = np.asarray(term), np.asarray(obs), np.asarray(info["final_obs"])
    assert np.all(np.asarray(trunc) == 0.0)
    # Lane 0 falls (pole angle = obs[1] beyond 0.2 rad) and is reset; lane 1 keeps balancing.
    t = int(np.argmax(term[:, 0]))
    assert term[t, 0] == 1.0 and term[:, 1].sum() == 0
    assert abs(final_obs[t, 0, 1]) > 0.2
    assert np.abs(obs[t, 0]).max() < 0.02  # fresh reset: all coordinates within +-0.01
    assert int(info["steps"][t, 0]) == 0 and int(info["completed_length"][t, 0]) == t + 1
    assert np.asarray(info["steps"])[:, 1].tolist() == list(range(1, horizon + 1))


def test_lower_case_paper_names_are_the_gymnasium_tasks_and_engines_are_checked():
    """`humanoid` is Gymnasium's Humanoid-v5 (the paper's task) on the machine's fast engine;
    an engine a task cannot run on is refused in one line."""
    from configs.train import get_config

    c = get_config("humanoid,dpmd,cpu")
    assert c.env.name == "Humanoid-v5" and c.env.impl == "auto"
    assert envs.canonical_name("hopper") == "Hopper-v5"
    assert envs.engines_of("humanoid") == ("jax", "warp", "c")
    assert envs.engines_of("brax_humanoid") == ("jax",)
    with pytest.raises(ValueError, match="runs on \\['jax'\\] only"):
        envs.check_env_impl("inverted_pendulum", "c")
    with pytest.raises(ValueError, match="not an engine"):
        envs.check_env_impl("Hopper-v5", "mujoco")
    assert make_env("hopper").impl == "c"  # auto on a CPU


def test_warp_without_its_runtime_is_refused(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "warp" else real(name, *a))
    with pytest.raises(ValueError, match="pip install warp-lang"):
        envs.check_env_impl("Hopper-v5", "warp")


def test_c_on_an_accelerator_is_refused(monkeypatch):
    import jax

    from mjxrsm.envs.engines import resolve_impl

    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    with pytest.raises(ValueError, match="across the bus"):
        resolve_impl("Hopper-v5", "c", ("jax", "warp", "c"))
    assert resolve_impl("Hopper-v5", "auto", ("jax", "warp", "c")) == "jax"


def test_mjx_at_1024_envs_finishes_a_warmup_chunk():
    """MJX's batched Cholesky used to deadlock XLA's CPU thread pool at ~1000 envs (silently,
    CPU idle); `import mjxrsm` sets the scheduler flag that avoids it. In a subprocess with a
    timeout, so a regression fails instead of hanging the suite."""
    import os

    code = (
        "import jax, mjxrsm\n"
        "from configs.train import get_config\n"
        "from mjxrsm.core.trainer import make_trainer\n"
        "c = get_config('HalfCheetah-v5,sac,cpu')\n"
        "c.env.impl = 'jax'; c.num_envs = 1024; c.start_steps = 1024\n"
        "c.algo.batch_size = 256; c.log_every = 1024; c.eval_episodes = 8\n"
        "tr = make_trainer(c)\n"
        "s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))\n"
        "print('steps', int(s.env_steps))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "steps 1024" in out.stdout
