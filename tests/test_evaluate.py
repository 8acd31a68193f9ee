"""`python -m mjxrsm.evaluate`: eval.json from a run (finished or in progress), the Gymnasium C
MuJoCo loop, the video path, and the quiet-start / W&B helpers it shares the start-up with."""

from __future__ import annotations

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers_runs import tiny_config

from mjxrsm.cli import quiet
from mjxrsm.evaluate import evaluate, gymnasium_episodes
from mjxrsm.rundir.wandb_log import WandbSink, brax_name
from mjxrsm.train import run


def test_evaluate_writes_report_on_a_run_in_progress(tmp_path):
    config = tiny_config("sac")
    config.total_env_steps = 10_000  # stopped after one chunk: a run still "in progress"
    run_dir = tmp_path / "run"
    run(config, run_dir, max_chunks=1, stream=open("/dev/null", "w"))
    report = evaluate(run_dir, episodes=3, video_path=tmp_path / "v.mp4")
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved["checkpoint_step"] == report["checkpoint_step"] == 16
    assert len(saved["mjx"]["returns"]) == 3
    assert all(1 <= n <= config.env.episode_length for n in saved["mjx"]["lengths"])
    assert "gymnasium" not in saved  # point_mass has no Gymnasium original
    assert saved["video"].startswith("none")  # ... nor a MuJoCo model to render


def test_gymnasium_loop_counts_first_episodes():
    pytest.importorskip("gymnasium.envs.mujoco")
    act = lambda obs, key: jnp.ones((obs.shape[0], 3))  # full torque: the hopper falls soon
    out = gymnasium_episodes("Hopper-v5", act, episodes=2, max_steps=1000, seed=0,
                             key=jax.random.PRNGKey(0))
    assert len(out["returns"]) == 2 and all(0 < n <= 1000 for n in out["lengths"])
    short = gymnasium_episodes("Hopper-v5", act, 2, max_steps=5, seed=0,
                               key=jax.random.PRNGKey(0))
    assert short["lengths"] == [5, 5]


def test_video_renders_a_model(tmp_path):
    import mujoco

    from mjxrsm.envs.gymnasium_mjx import gymnasium_assets_dir
    from mjxrsm.rundir import video

    model = mujoco.MjModel.from_xml_path(f"{gymnasium_assets_dir()}/hopper.xml")
    q = np.tile(model.qpos0, (3, 1))
    v = np.zeros((3, model.nv))
    try:
        frames = video.render(model, q, v, height=48, width=64)
    except Exception as e:  # no OpenGL platform on this machine
        pytest.skip(f"no headless OpenGL ({video.__name__}: {e})")
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3) and frames[0].any()
    path = video.write_mp4(tmp_path / "x.mp4", frames, fps=125)
    assert path.stat().st_size > 0


def test_quiet_filters_only_known_noise(recwarn, monkeypatch):
    # pytest restores the warning filters after every test, so an earlier test's installation is
    # gone while the module still remembers it: install afresh.
    monkeypatch.setattr(quiet, "_done", False)
    quiet.quiet_third_party()
    import mujoco

    from mjxrsm.envs.gymnasium_mjx import gymnasium_assets_dir

    mujoco.MjModel.from_xml_path(f"{gymnasium_assets_dir()}/half_cheetah.xml")  # settotalmass
    warnings.warn_explicit("Brax System, piplines and environments are not actively being "
                           "maintained.", UserWarning, "mjcf.py", 1, module="brax.io.mjcf")
    assert not [w for w in recwarn if "settotalmass" in str(w.message) or "Brax" in
                str(w.message)]
    with pytest.warns(UserWarning, match="ours"):
        warnings.warn("ours", UserWarning, stacklevel=1)


def test_wandb_names_follow_brax(tmp_path, monkeypatch):
    assert brax_name("eval", "eval/return_mean") == "eval/episode_reward"
    assert brax_name("train", "train/episode_return") == "training/episode_return"
    assert brax_name("train", "critic/loss") == "training/critic/loss"
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # not installed
    with pytest.warns(UserWarning, match="not installed"):
        sink = WandbSink(tmp_path, {})
    sink.log("eval", 1, {"eval/return_mean": 1.0})  # a no-op, never an error
    sink.finish()


@pytest.mark.parametrize("impl", ["c", "jax"])
def test_video_reads_joint_states_on_every_engine(impl):
    """The video re-poses C MuJoCo from the episode's qpos/qvel, whatever engine ran it (the C
    engine's state is float64 bits, not an `mjx.Data`)."""
    from mjxrsm.envs import make_env
    from mjxrsm.rundir import video

    env = make_env("Hopper-v5", impl=impl)
    state = env.reset(jax.random.PRNGKey(0))
    qpos, qvel = video.joint_state(env, state.physics)
    assert qpos.shape == (env.mj_model.nq,) and qvel.shape == (env.mj_model.nv,)
    np.testing.assert_allclose(qpos, env.init_qpos, atol=env.reset_noise_scale)
