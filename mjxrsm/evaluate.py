"""Evaluate a run's policy: parallel MJX episodes, the same policy on Gymnasium's own C MuJoCo
task (for the Gymnasium-v5 ports), and optionally an MP4.

    python -m mjxrsm.evaluate runs/x [--episodes 10] [--video] [--step S] [--out runs/x/eval.json]
    make eval RUN=runs/x [EPISODES=10] [VIDEO=1]

Works on a finished run and on one still training (its latest completed checkpoint). The MJX
episodes are the trainer's evaluation (one episode per parallel env, no exploration noise); the
Gymnasium loop feeds the same policy the real `gymnasium.make(name)` observations and maps its
[-1, 1] actions onto the action space as the MJX port does. A gap between the two is a finding
about the port (or the policy's fragility), reported in `eval.json`, not hidden.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mjxrsm.core.episodes import play_episodes
from mjxrsm.envs.options import env_kwargs
from mjxrsm.rundir import video  # sets MUJOCO_GL before anything imports MuJoCo
from mjxrsm.rundir.policy_io import Policy, load_policy


def _stats(returns: np.ndarray, lengths: np.ndarray) -> dict[str, Any]:
    return {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "length_mean": float(lengths.mean()),
        "returns": [float(r) for r in returns],
        "lengths": [int(n) for n in lengths],
    }


def mjx_episodes(policy: Policy, env: Any, episodes: int, key: jax.Array) -> dict[str, Any]:
    """One episode in each of `episodes` parallel envs (`env` wrapped for training): the
    trainer's own evaluation loop (`evaluation.play_episodes`) with the loaded policy."""
    run = jax.jit(lambda k: play_episodes(env, policy, episodes, k))
    ret, length = jax.device_get(run(key))
    return _stats(np.asarray(ret), np.asarray(length))


# Options of the MJX ports that Gymnasium's own constructors do not take.
_MJX_ONLY_OPTIONS = ("max_episode_steps", "impl", "nthread", "mujoco_contact_frames",
                     "mjx_solver", "mjx_iterations", "mjx_ls_iterations")


def gymnasium_episodes(name: str, act: Any, episodes: int, max_steps: int, seed: int,
                       key: jax.Array, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The real Gymnasium task (C MuJoCo), `episodes` envs stepped together so the policy runs
    batched; each env's first episode counts. `act(obs [N, o], key) -> [N, d]` in [-1, 1];
    `options` are the run's task options (the MJX-only ones are dropped)."""
    import gymnasium

    kwargs = {k: v for k, v in (options or {}).items() if k not in _MJX_ONLY_OPTIONS}
    envs = gymnasium.make_vec(name, num_envs=episodes, vectorization_mode="sync",
                              max_episode_steps=max_steps, **kwargs)
    low, high = envs.single_action_space.low, envs.single_action_space.high
    obs, _ = envs.reset(seed=seed)
    ret, length = np.zeros(episodes), np.zeros(episodes, np.int64)
    alive = np.ones(episodes, bool)
    step = 0
    while alive.any() and step < max_steps:
        a = np.asarray(act(jnp.asarray(obs, jnp.float32), jax.random.fold_in(key, step)))
        obs, reward, terminated, truncated, _ = envs.step(low + (a + 1.0) * 0.5 * (high - low))
        ret += np.where(alive, reward, 0.0)
        length += alive
        alive &= ~(terminated | truncated)
        step += 1
    envs.close()
    return _stats(ret, length)


def record_video(policy: Policy, raw_env: Any, path: Path, key: jax.Array) -> Path | None:
    """Simulate one episode of the raw task on its engine and render it; None for tasks
    without a model."""
    mj_model = video.mj_model_of(raw_env)
    if mj_model is None:
        return None
    limit = raw_env.episode_length
    if policy.config.env.episode_length:
        limit = policy.config.env.episode_length

    @jax.jit
    def rollout(key: jax.Array):
        k_reset, k_run = jax.random.split(key)
        state = raw_env.reset(k_reset)

        def body(state, k):
            state = raw_env.step(state, policy(state.obs, k))
            return state, (*video.joint_state(raw_env, state.physics), state.terminated)

        q0, v0 = video.joint_state(raw_env, state.physics)
        _, (q, v, term) = jax.lax.scan(body, state, jax.random.split(k_run, limit))
        return jnp.concatenate([q0[None], q]), jnp.concatenate([v0[None], v]), term

    q, v, term = (np.asarray(x) for x in jax.device_get(rollout(key)))
    ended = np.flatnonzero(term > 0)
    n = int(ended[0]) + 2 if ended.size else len(q)  # keep the terminal frame
    frames = video.render(mj_model, q[:n], v[:n])
    return video.write_mp4(path, frames, fps=1.0 / _control_dt(raw_env))


def _control_dt(raw_env: Any) -> float:
    dt = getattr(raw_env, "dt", None)
    if dt is None:
        raise ValueError(f"{type(raw_env).__name__} has no control step `dt` for the video")
    return float(dt)


def evaluate(run_dir: str | Path, episodes: int = 10, step: int | None = None,
             video_path: str | Path | None = None, out: str | Path | None = None,
             seed: int = 0, gymnasium_check: bool = True) -> dict[str, Any]:
    """Evaluate `run_dir`'s policy; writes and returns the report (`<run>/eval.json` by
    default)."""
    from mjxrsm.envs import make_env, wrap_for_training

    run_dir = Path(run_dir)
    policy = load_policy(run_dir, step)
    cfg = policy.config
    raw_env = make_env(cfg.env.name, **env_kwargs(cfg))
    env = wrap_for_training(raw_env, cfg.env.episode_length or None)
    key = jax.random.PRNGKey(seed)
    t0 = time.time()
    report: dict[str, Any] = {
        "run": str(run_dir),
        "env": cfg.env.name,
        "algo": cfg.algo.name,
        "checkpoint_step": policy.step,
        "episodes": episodes,
        "seed": seed,
        "act_with": cfg.algo.get("act_with", "actor"),
        "normalize_obs": bool(cfg.normalize_obs),
        "mjx": mjx_episodes(policy, env, episodes, jax.random.fold_in(key, 0)),
    }
    if gymnasium_check and _is_gymnasium_task(cfg.env.name):
        gym = gymnasium_episodes(cfg.env.name, jax.jit(policy), episodes, env.episode_length,
                                 seed, jax.random.fold_in(key, 1), env_kwargs(cfg))
        report["gymnasium"] = gym
        mjx = report["mjx"]
        report["difference"] = {
            "return_mean": gym["return_mean"] - mjx["return_mean"],
            "return_mean_rel": (gym["return_mean"] - mjx["return_mean"])
            / max(abs(mjx["return_mean"]), 1e-8),
            "length_mean": gym["length_mean"] - mjx["length_mean"],
        }
    if video_path is not None:
        written = record_video(policy, raw_env, Path(video_path), jax.random.fold_in(key, 2))
        report["video"] = str(written) if written else f"none: {cfg.env.name} has no MuJoCo model"
    report["wall_s"] = time.time() - t0
    out = Path(out) if out is not None else run_dir / "eval.json"
    out.write_text(json.dumps(report, indent=2))
    return report


def _is_gymnasium_task(name: str) -> bool:
    from mjxrsm.envs import gymnasium_mjx

    return name in gymnasium_mjx.TASKS


def cli(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m mjxrsm.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run directory (holds config.json and checkpoints/)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    p.add_argument("--video", action="store_true", help="write <run>/eval.mp4 (or --video-path)")
    p.add_argument("--video-path", default=None)
    p.add_argument("--out", default=None, help="report path (default <run>/eval.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-gymnasium", action="store_true", help="skip the Gymnasium C MuJoCo loop")
    a = p.parse_args(argv)
    video_path = a.video_path or (Path(a.run) / "eval.mp4" if a.video else None)
    try:
        report = evaluate(a.run, a.episodes, a.step, video_path, a.out, a.seed,
                          not a.no_gymnasium)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    brief = {k: v for k, v in report.items() if k not in ("mjx", "gymnasium")}
    for part in ("mjx", "gymnasium"):
        if part in report:
            brief[part] = {k: v for k, v in report[part].items() if k not in ("returns", "lengths")}
    print(json.dumps(brief, indent=2))


if __name__ == "__main__":
    cli()
