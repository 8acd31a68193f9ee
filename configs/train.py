"""The training config: `--config=configs/train.py:ENV,ALGO[,PRESET]`.

Presets (ALGORITHMS.md §4.6, issue "fused trainer"):
  paper (default)  the official settings: 5 envs, UTD 0.2 (1 update per 5 transitions), batch 256,
                   32 particles, 20 diffusion steps, 30k random warm-up, 1M env steps. It is the
                   default: its sample efficiency can be set beside the paper.
  fast             wall-clock on a GPU: thousands of envs, batch 1024, fewer updates per transition.
  cpu              learning in minutes on a laptop: 16 envs, UTD 1, 2x128 nets, 16 particles, 10
                   diffusion steps, no policy/target delay, alpha annealed quickly. Different math
                   from the paper; for demos, smoke runs and the CPU learning benchmark.
Every field can be overridden from the CLI: --config.algo.lr=1e-4 --config.num_envs=2048.
"""

from __future__ import annotations

from ml_collections import ConfigDict

from configs.algos import dpmd, sac, sdac

ALGOS = {"dpmd": dpmd.get_config, "sdac": sdac.get_config, "sac": sac.get_config}
PRESETS = ("paper", "fast", "cpu")

# Per-env budgets (env steps after warm-up); everything else comes from the preset.
ENV_BUDGETS = {
    "inverted_pendulum": 24_000,
    "inverted_double_pendulum": 200_000,
    "reacher": 200_000,
    "point_mass": 20_000,
    "pendulum": 50_000,
}


def base_config() -> ConfigDict:
    c = ConfigDict()
    c.seed = 0
    c.preset = "paper"
    # episode_length 0 = the task's own time limit (1000 for MuJoCo tasks, 200 for pendulum).
    c.env = ConfigDict({"name": "inverted_pendulum", "episode_length": 0})
    c.num_envs = 5
    c.utd_ratio = 0.2  # gradient updates per collected transition (official: 1 per 5)
    c.start_steps = 30_000  # uniform-random warm-up transitions, not counted in the budget
    c.total_env_steps = 1_000_000
    c.replay_capacity = 1_000_000
    c.normalize_obs = False
    c.log_every = 5_000  # env steps per jitted chunk (one host round-trip per chunk)
    c.eval_every = 50_000
    c.eval_episodes = 20  # run as parallel eval envs
    c.checkpoint_every = 100_000
    c.checkpoint_buffer = True  # include the replay buffer (exact resume; large on disk)
    c.keep_checkpoints = 2
    c.tensorboard = True
    return c


def apply_preset(c: ConfigDict, preset: str) -> None:
    c.preset = preset
    if preset == "fast":
        c.num_envs = 1024
        c.utd_ratio = 1 / 128  # 8 updates per vector step
        c.algo.batch_size = 1024
        c.start_steps = 1024 * 32
        c.log_every = 1024 * 100
        c.eval_every = 1024 * 500
        c.checkpoint_every = 1024 * 1000
    elif preset == "cpu":
        # Measured on 2 CPU cores (issue 3 note, bench/results/learning-*): with these settings
        # DPMD and SDAC solve inverted_pendulum (eval 1000) at 16k env steps, SAC at 20.8k.
        # What mattered, from runs that stalled at returns of 50-180: UTD 1 (not 1/8), policy
        # and target updates every gradient step (the official delay 2 halves both), alpha
        # annealed from the official 5 within the budget (every 25 steps instead of 250), 16
        # particles, and (SDAC) two critic steps per update.
        c.num_envs = 16
        c.utd_ratio = 1.0  # 16 updates per vector step
        c.start_steps = 2_000
        c.replay_capacity = 100_000
        c.log_every = 1_600
        c.eval_every = 4_000
        c.eval_episodes = 8
        c.checkpoint_every = 8_000
        c.algo.hidden = (128, 128)
        c.algo.batch_size = 256
        if c.algo.name != "sac":
            c.algo.num_particles = 16
            c.algo.diffusion_steps = 10
            c.algo.policy_delay = 1
            c.algo.target_update_every = 1
            c.algo.lr_decay_begin = 10**9  # keep the policy lr constant on short runs
            c.algo.alpha_update_every = 25  # anneal alpha 5 -> ~1 within ~6k updates
            # Two critic Adam steps per update (the official DPMD quirk, §6.4) for SDAC too:
            # SDAC's actor tracks its critic closely, and with one critic step it stayed at
            # returns of 66-143 up to 16k steps in four runs; with two it reached 1000 at 16k.
            c.algo.double_critic_step = True
            if c.algo.name == "sdac":
                c.algo.num_candidates = 32


def get_config(arg: str | None = None) -> ConfigDict:
    """`arg` = "ENV,ALGO[,PRESET]", e.g. "humanoid,dpmd" or "ant,sdac,fast"."""
    parts = [p.strip() for p in (arg or "inverted_pendulum,dpmd").split(",")]
    if len(parts) not in (2, 3):
        raise ValueError(f"config arg must be 'ENV,ALGO[,PRESET]', got {arg!r}")
    env, algo = parts[0], parts[1]
    preset = parts[2] if len(parts) == 3 else "paper"
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {sorted(ALGOS)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
    from mjxrsm.envs import available_envs  # light import: no brax/mujoco

    if env not in available_envs():
        raise ValueError(f"unknown env {env!r}; choose one of {available_envs()}")
    c = base_config()
    c.env.name = env
    c.algo = ALGOS[algo]()
    if env in ENV_BUDGETS:
        c.total_env_steps = ENV_BUDGETS[env]
        c.start_steps = min(c.start_steps, 5_000)
        c.eval_every = min(c.eval_every, 10_000)
    apply_preset(c, preset)
    return c
