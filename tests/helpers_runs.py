"""Tiny training runs for the after-training tests (load_policy, evaluate): seconds, not minutes."""

from __future__ import annotations

from configs.train import get_config


def tiny_config(algo: str, env: str = "point_mass", normalize: bool = False):
    """A run of a few seconds: tiny nets, 2 chunks of 16 env steps after a 32-step warm-up."""
    c = get_config(f"{env},{algo},cpu")
    c.num_envs = 4
    c.log_every = 16
    c.start_steps = 32
    c.replay_capacity = 256
    c.utd_ratio = 0.5
    c.total_env_steps = 32
    c.eval_every = 32
    c.checkpoint_every = 16
    c.eval_episodes = 2
    c.tensorboard = False
    c.normalize_obs = normalize
    c.env.episode_length = 20
    c.algo.hidden = (16, 16)
    c.algo.batch_size = 16
    # The diffusion agents' keys, whichever algorithm has them; acting with the online net
    # checks `act_with` (the online and target nets differ after a few updates).
    for key, value in {"num_particles": 2, "diffusion_steps": 3, "act_with": "online"}.items():
        if key in c.algo:
            c.algo[key] = value
    return c
