"""`mjxrsm.load_policy`: the loaded policy acts exactly as the trainer's deterministic evaluation
does (same networks, `act_with`, observation normalisation), batched or not, under jit."""

from __future__ import annotations

import io
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers_runs import tiny_config

import mjxrsm
from mjxrsm.core.trainer import make_trainer
from mjxrsm.rundir.checkpoint import Checkpointer
from mjxrsm.rundir.policy_io import PolicyLoadError, checkpoint_steps
from mjxrsm.train import run


def _trainer_actions(config, run_dir: Path, obs: jax.Array, key: jax.Array) -> np.ndarray:
    """What the trainer's evaluation does with the restored TrainState."""
    trainer = make_trainer(config)
    ckpt = Checkpointer(run_dir / "checkpoints", include_buffer=config.checkpoint_buffer)
    state, _ = ckpt.restore(trainer.init(jax.random.PRNGKey(config.seed)))
    ckpt.close()
    o = state.obs_stats.normalize(obs) if config.normalize_obs else obs
    return np.asarray(jnp.clip(trainer.agent.act(state.agent, o, key, deterministic=True), -1, 1))


@pytest.mark.parametrize("algo,normalize", [("dpmd", True), ("sac", False)])
def test_load_policy_matches_trainer(tmp_path, monkeypatch, algo, normalize):
    config = tiny_config(algo, normalize=normalize)
    run_dir = tmp_path / "run"
    run(config, run_dir, stream=open("/dev/null", "w"))
    policy = mjxrsm.load_policy(run_dir)
    assert policy.step == checkpoint_steps(run_dir)[-1] == 32
    if normalize:
        assert float(policy.obs_stats.count) > 0

    obs = jax.random.normal(jax.random.PRNGKey(1), (5, policy.observation_size))
    key = jax.random.PRNGKey(2)
    expected = _trainer_actions(config, run_dir, obs, key)
    np.testing.assert_allclose(np.asarray(policy(obs, key)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(policy)(obs, key)), expected,
                               rtol=1e-5, atol=1e-6)
    single = policy(obs[0], key)
    assert single.shape == (policy.action_size,)

    earlier = mjxrsm.load_policy(run_dir, step=16)
    assert earlier.step == 16
    # A relative run directory (how `make eval RUN=runs/x` passes it): Orbax's metadata reader
    # returned no tree for relative paths, so the loader resolves the path first.
    monkeypatch.chdir(tmp_path)
    relative = mjxrsm.load_policy("run")
    np.testing.assert_allclose(np.asarray(relative(obs, key)), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(PolicyLoadError, match="available"):
        mjxrsm.load_policy(run_dir, step=7)

    # A damaged latest checkpoint (bytes flipped in its largest file): the latest readable one
    # is loaded instead, with a warning, and the run directory is left exactly as it was.
    steps = checkpoint_steps(run_dir)
    latest = run_dir / "checkpoints" / str(steps[-1])
    f = max((q for q in latest.rglob("*") if q.is_file()), key=lambda q: q.stat().st_size)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    before = sorted(str(q) for q in run_dir.rglob("*"))
    warnings = io.StringIO()
    fallback = mjxrsm.load_policy(run_dir, stream=warnings)
    assert fallback.step == steps[-2] and "skipped 1 unreadable" in warnings.getvalue()
    assert sorted(str(q) for q in run_dir.rglob("*")) == before
    with pytest.raises(PolicyLoadError, match="no readable checkpoint"):
        mjxrsm.load_policy(run_dir, step=steps[-1])


def test_load_policy_errors(tmp_path):
    with pytest.raises(PolicyLoadError, match="config.json"):
        mjxrsm.load_policy(tmp_path)
