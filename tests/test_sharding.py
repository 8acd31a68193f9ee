"""Data parallelism (mjxrsm/core/sharding.py): config checks, the helpers outside a shard_map,
and the multi-device measurements of tests/sharding_checks.py (a subprocess with 4 CPU devices)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers_runs import tiny_config

from mjxrsm.config.check import ConfigError, divisibility_errors, validate
from mjxrsm.core import sharding

ROOT = Path(__file__).resolve().parents[1]


def _four_devices(script: str, *args: str, timeout: int = 900) -> str:
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "4", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_sizes_that_do_not_divide_are_refused_with_what_to_change():
    c = tiny_config("sac", env="pendulum")
    c.num_envs, c.algo.batch_size, c.eval_episodes = 6, 10, 2
    errors = divisibility_errors(c, 4)
    assert len(errors) == 3, errors
    assert "num_envs=6" in errors[0] and "use 4 or 8" in errors[0]
    assert "algo.batch_size=10" in errors[1] and "8 or 12" in errors[1]
    assert "eval_episodes=2" in errors[2] and "use 4" in errors[2]
    assert divisibility_errors(tiny_config("sac"), 4) == ["eval_episodes=2 does not "
        "divide by the 4 devices of the mesh (each device takes eval_episodes/4); use 4, or "
        "another --config.mesh.devices"]
    c = tiny_config("sac")
    c.mesh.devices = len(jax.devices()) + 1
    with pytest.raises(ConfigError, match=r"mesh.devices=\d+ but only \d+ device"):
        validate(c)


def test_helpers_are_exact_identities_outside_a_shard_map():
    """Tests, benchmarks and load_policy call the agents without a mesh: nothing may change."""
    x = jax.random.normal(jax.random.PRNGKey(0), (37, 3))
    assert np.array_equal(sharding.batch_std(x), x.std())
    assert np.array_equal(sharding.batch_mean(x), x.mean())
    assert sharding.local_rows(x) is x and sharding.axis_size() == 1
    key = jax.random.PRNGKey(1)
    assert sharding.device_key(key) is key
    loss = lambda p, y: jnp.sum(jnp.sin(p * y))  # noqa: E731
    v1, g1 = sharding.value_and_mean_grad(loss)(x, x + 1)
    v2, g2 = jax.value_and_grad(loss)(x, x + 1)
    assert np.array_equal(v1, v2) and np.array_equal(g1, g2)


def _result(stdout: str) -> dict:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_host_counters_are_exact_past_int32():
    """The host reads env steps as iteration * num_envs and updates as unsigned, so the int32
    device counters wrapping at 2^31 (x64 is off) do not stop or mislabel a long run."""
    from types import SimpleNamespace

    from mjxrsm.core.trainer import Trainer

    trainer = SimpleNamespace(config=SimpleNamespace(num_envs=4096))
    state = SimpleNamespace(iteration=jnp.asarray(2**20 + 3, jnp.int32),
                            env_steps=np.asarray((2**20 + 3) * 4096, np.int64).astype(np.int32),
                            updates=(jnp.asarray(2**31 - 1, jnp.int32) + 5))
    assert int(state.env_steps) != (2**20 + 3) * 4096  # the device counter has wrapped
    assert Trainer.env_steps(trainer, state) == (2**20 + 3) * 4096
    assert Trainer.updates(state) == 2**31 + 4


@pytest.fixture(scope="module")
def four_devices() -> dict:
    """The measurements of tests/sharding_checks.py on 4 CPU devices (one subprocess)."""
    return _result(_four_devices("tests/sharding_checks.py"))


def test_split_update_matches_one_device_update(four_devices):
    """One update of the shared helpers on a 32-row batch, split 4 x 8 vs whole: gradients,
    Adam moments, parameters, temperature and batch statistics agree to float rounding."""
    u = four_devices["update"]
    for name, diff in u["diff"].items():  # under a type-checked jax.shard_map
        assert diff < 1e-5, f"{name} differs by {diff} ({u['rel'][name]:.2g} relative)"
    for name, diff in u["untyped_diff"].items():  # under the trainer's (check_vma=False)
        assert diff < 1e-5, f"untyped: {name} differs by {diff} ({u['untyped_rel'][name]:.2g})"
    # The trap the helpers avoid: pmean after jax.grad of replicated params is 4x too large.
    assert u["naive_grad_ratio"] == pytest.approx(4.0, rel=1e-4)


def test_layout_and_replicas(four_devices):
    for when in ("after_init", "after_chunk", "ckpt_restored_layout"):
        r = four_devices[when]
        assert r["wrong_sharding"] == [], r["wrong_sharding"][:5]
        assert r["replicated_unequal"] == [], f"{when}: replicas differ: {r['replicated_unequal']}"
        assert r["replicated_leaves"] > 0 and r["split_leaves"] > 0
    assert four_devices["metrics_finite"] and four_devices["eval_finite"]
    # 32 warm-up + 16 env steps, 4 iterations x 2 updates; each ring holds its quarter.
    assert four_devices["counters"] == [48, 8, 12]
    assert four_devices["obs_count"] == 48.0


def test_mjx_physics_runs_on_the_mesh(four_devices):
    """MJX's solver does not type-check under shard_map's varying-axes checks; the trainer's
    untyped map runs it (a chunk and an evaluation of an MJX task on 4 devices)."""
    r = four_devices["mjx_layout"]
    assert r["wrong_sharding"] == [] and r["replicated_unequal"] == [], r
    assert four_devices["mjx_finite"]
    assert four_devices["mjx_counters"] == [48, 8]


def test_c_engine_runs_on_the_mesh(four_devices):
    """The C engine's callback runs once per device shard: the same physics as on one device,
    bit for bit, and a chunk and an evaluation with replicas equal."""
    assert four_devices["c_warmup_physics_equal"]
    r = four_devices["c_layout"]
    assert r["wrong_sharding"] == [] and r["replicated_unequal"] == [], r
    assert four_devices["c_finite"]


def test_warmup_is_the_same_whatever_the_device_count(four_devices):
    """Per-env keys from the global env index: identical resets, rows and obs statistics."""
    assert four_devices["warmup_env_diff"] == 0.0
    assert four_devices["warmup_rows_diff"] == 0.0
    assert four_devices["warmup_obs_stats_diff"] < 1e-5  # a sum in another order
    assert four_devices["warmup_agent_equal"]


def test_chunk_collectives(four_devices):
    """No gathers or all-to-alls; only the all-reduces the design expects (see the docstring
    of mjxrsm/core/sharding.py): per update the critic gradients, DPMD's two Q statistics and the
    policy gradients, and the temperature step's entropy (replicated for DPMD, but the trainer's
    untyped map reduces every value it is given: one scalar); per env step the two observation
    moments; per chunk the metrics (means, then sums): 9 in the program (a scan body counts
    once); XLA may combine some."""
    assert four_devices["jaxpr_collectives"] == {"psum": 9}, four_devices["jaxpr_collectives"]
    compiled = four_devices["compiled_collectives"]
    for op in ("all-gather", "all-to-all", "collective-permute", "reduce-scatter"):
        assert compiled[op] == 0, compiled
    assert 1 <= compiled["all-reduce"] <= 9, compiled


def test_checkpoint_round_trip_and_other_mesh_refused(four_devices):
    assert four_devices["ckpt_roundtrip_diff"] == 0.0
    assert four_devices["ckpt_devices_meta"] == 4
    err = four_devices["ckpt_other_mesh_error"]
    assert err is not None and "--config.mesh.devices=4" in err and "1 device" in err


@pytest.mark.slow
def test_resume_on_four_devices_equals_uninterrupted_run(tmp_path):
    r = _result(_four_devices("tests/sharding_checks.py", "resume", str(tmp_path)))
    assert r["resume_step"] == 32 and r["resume_diff"] == 0.0 and r["resume_csv_equal"]
    assert r["other_mesh_error"] and "--config.mesh.devices=4" in r["other_mesh_error"]


@pytest.mark.slow
def test_multihost_two_processes_match_one_process(tmp_path):
    """2 processes x 2 CPU devices on localhost through --multihost == 1 process x 4 devices."""
    port = 20000 + os.getpid() % 20000
    args = ["-m", "mjxrsm.train", "--config=configs/train.py:point_mass,sac,cpu",
            "--config.mesh.devices=0", "--config.num_envs=4", "--config.log_every=16",
            "--config.start_steps=32", "--config.replay_capacity=256", "--config.utd_ratio=0.5",
            "--config.total_env_steps=32", "--config.eval_every=32", "--config.eval_episodes=4",
            "--config.tensorboard=False", "--config.env.episode_length=20",
            "--config.algo.hidden=(16,16)", "--config.algo.batch_size=16"]
    base = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen(
        [sys.executable, *args, "--multihost", f"--workdir={tmp_path / 'multi'}"], cwd=ROOT,
        env={**base, "JAX_NUM_CPU_DEVICES": "2", "JAX_COORDINATOR_ADDRESS": f"localhost:{port}",
             "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    single = subprocess.run([sys.executable, *args, f"--workdir={tmp_path / 'single'}"], cwd=ROOT,
                            env={**base, "JAX_NUM_CPU_DEVICES": "4"}, capture_output=True,
                            text=True, timeout=900)
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs[0][-3000:] + logs[1][-3000:]
    assert single.returncode == 0, single.stderr[-3000:]
    multi = json.loads((tmp_path / "multi" / "summary.json").read_text())
    one = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert multi["processes"] == 2 and multi["devices"] == one["devices"] == 4
    assert multi["env_steps"] == one["env_steps"] == 32
    assert multi["final_eval_return"] == pytest.approx(one["final_eval_return"], rel=1e-4)
    rows = lambda d: [r.split(",", 2)[::2] for r in (d / "train.csv").read_text().splitlines()]  # noqa: E731
    assert len(rows(tmp_path / "multi")) == len(rows(tmp_path / "single")) == 3


@pytest.mark.slow
def test_four_devices_solve_inverted_pendulum(tmp_path):
    """SAC's cpu preset (16 envs, batch 256, 8 eval episodes) split over 4 fake devices learns
    inverted_pendulum: eval return >= 900 of 1000 within the preset's 24k env steps, as
    tests/test_learning.py asks of one device."""
    cmd = [sys.executable, "-m", "mjxrsm.train",
           "--config=configs/train.py:inverted_pendulum,sac,cpu", "--config.mesh.devices=4",
           "--config.num_envs=16",  # the cpu preset acts in 1 env; 16 split over 4 devices
           "--config.tensorboard=False", f"--workdir={tmp_path / 'run'}"]
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "4", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    returns = [e["return_mean"] for e in summary["evals"]]
    assert summary["devices"] == 4 and max(returns) >= 900, f"eval returns {returns}"
