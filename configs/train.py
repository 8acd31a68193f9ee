"""The training config: `--config=configs/train.py:ENV,ALGO[,PRESET]`.

ALGO is any registered algorithm (mjxrsm/config/algorithms.py), PRESET one of `PRESETS` or `auto`
(the
default: `parallel` on a GPU/TPU, `cpu` on a CPU; `paper` = the official settings). A preset is
data: the run-level values below plus each algorithm's own `RUN_PRESETS[preset]` (run-level keys,
e.g. SAC's 1 env on a CPU) and `PRESETS[preset]` (algo keys) in configs/algos/<algo>.py; adding
one is adding entries.
Why each value is what it is: docs/PRESETS.md. Every field can be overridden from the CLI:
--config.algo.lr=1e-4 --config.num_envs=2048 --config.env.kwargs.ctrl_cost_weight=0.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml_collections import ConfigDict

from mjxrsm.config.overrides import has_key, set_key
from mjxrsm.config.platform import may_have_accelerator
from mjxrsm.config.ranges import COUNT, ENV_STEPS, Bool, Choice, Int, Name, Real
from mjxrsm.envs.engines import IMPLS

# Run-level preset values (dotted keys; `algo.*` ones apply to every algorithm). `paper` is the
# base config itself.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # Accelerators (docs/PRESETS.md): the CPU-tried parallel recipe (256 envs, batch 1024 for SAC,
    # UTD 1/16) with 4x the envs; UTD and batch kept, so 64 updates per vector step. UTD 1/16 took
    # HalfCheetah-v5 to 5.9k (DPMD) and 6.4k (SAC) at 1M env steps where 1/64 reached 2.6k / 2.9k.
    "parallel": {
        "num_envs": 1024,
        "utd_ratio": 1 / 16,  # 64 updates per vector step
        "algo.batch_size": 1024,
        "start_steps": 1024 * 10,
        "log_every": 1024 * 100,
        "eval_every": 1024 * 100,
        "eval_episodes": 16,
        "checkpoint_every": 1024 * 500,
    },
    "cpu": {
        "num_envs": 16,
        "utd_ratio": 1.0,  # 16 updates per vector step
        "start_steps": 2_000,
        "replay_capacity": 100_000,
        "log_every": 1_600,
        "eval_every": 4_000,
        "eval_episodes": 8,
        "checkpoint_every": 8_000,
        "algo.hidden": (128, 128),
        "algo.batch_size": 256,
    },
}
AUTO = "auto"  # resolved by the JAX backend: see `resolve_preset`

# Per-env budgets (env steps after warm-up); everything else comes from the preset.
ENV_BUDGETS = {
    "inverted_pendulum": 24_000,
    "inverted_double_pendulum": 200_000,
    "reacher": 200_000,
    "point_mass": 20_000,
    "pendulum": 50_000,
}


def base_config() -> ConfigDict:
    """The `paper` preset's run settings (the official protocol)."""
    c = ConfigDict()
    c.seed = 0
    c.preset = "paper"
    # episode_length 0 = the task's own time limit (1000 for MuJoCo tasks, 200 for pendulum).
    # kwargs go to the task's constructor (checked against its signature before compiling).
    # impl: the physics engine (auto = C MuJoCo on a CPU, MJX on an accelerator, where the task
    # runs on both: mjxrsm/envs/engines); nthread: the C engine's threads (0 = the usable cores).
    c.env = ConfigDict({"name": "inverted_pendulum", "episode_length": 0, "impl": "auto",
                        "nthread": 0, "kwargs": ConfigDict()})
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
    c.keep_checkpoints_every = 0  # env steps; > 0 also keeps one checkpoint per multiple, for good
    c.tensorboard = True
    c.wandb = False  # also log to Weights & Biases (optional extra: pip install -e ".[wandb]")
    # Data parallel over devices (README "Scaling out"): 1 = one device, 0 = all (every host's
    # with --multihost), k = the first k. num_envs, algo.batch_size, replay_capacity and
    # eval_episodes are global and must divide by the device count.
    c.mesh = ConfigDict({"devices": 1})
    return c


# What each run setting may hold (mjxrsm/config/ranges.py); each algorithm's own are in its config
# file.
# Cross-setting rules (utd_ratio * num_envs integral, start_steps >= batch_size, ...) are in
# mjxrsm/config/check.py.
RANGES = {
    "seed": Int(0, 2**31 - 1),
    "preset": Choice(tuple(PRESETS)),
    "env.name": Name("checked by the env registry"),
    "env.episode_length": Int(0, 10_000_000),
    "env.impl": Choice(IMPLS),
    "env.nthread": Int(0, 1024),
    "mesh.devices": Int(0, 1 << 16),  # 0 = every device; sizes must divide by the count
    "num_envs": Int(1, 1 << 20),
    "utd_ratio": Real(0.0, 1024.0, lo_open=True),
    "start_steps": Int(0, 2_000_000_000),
    "total_env_steps": ENV_STEPS,
    "replay_capacity": COUNT,
    "normalize_obs": Bool(),
    "log_every": ENV_STEPS,
    "eval_every": ENV_STEPS,
    "eval_episodes": Int(1, 1 << 20),
    "checkpoint_every": ENV_STEPS,
    "checkpoint_buffer": Bool(),
    "keep_checkpoints": Int(2, 1000),  # >= 2: a damaged latest one falls back to the one before
    "keep_checkpoints_every": Int(0, 2_000_000_000),  # 0: none beyond keep_checkpoints
    "tensorboard": Bool(),
    "wandb": Bool(),
}


def set_values(c: ConfigDict, values: Mapping[str, Any], where: str) -> None:
    """Assign dotted keys; a key the config lacks is a typo in a preset table, so it fails."""
    for dotted, value in values.items():
        if not has_key(c, dotted):
            raise KeyError(f"{where}: {dotted!r} is not a config key")
        set_key(c, dotted, value)


def apply_preset(c: ConfigDict, preset: str) -> None:
    """The run-level values of `preset`, then the algorithm's own run-level and algo-level ones
    (which win where both set)."""
    from mjxrsm.config.algorithms import get_algorithm

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
    c.preset = preset
    set_values(c, PRESETS[preset], f"preset {preset!r}")
    algorithm = get_algorithm(c.algo.name)
    set_values(c, algorithm.run_preset(preset), f"{c.algo.name} run preset {preset!r}")
    own = algorithm.preset(preset)
    set_values(c.algo, own, f"{c.algo.name} preset {preset!r}")


def resolve_preset(preset: str) -> str:
    """`auto` -> `parallel` on an accelerator, `cpu` on a CPU: `make train ENV=.. ALGO=..` gives a
    GPU user a thousand envs and a laptop user a run that ends in minutes, not days (`paper` stays
    one word away for reproducing the paper)."""
    if preset != AUTO:
        return preset
    if not may_have_accelerator():
        return "cpu"
    import jax

    return "cpu" if jax.default_backend() == "cpu" else "parallel"


def usage() -> str:
    """The CLI's help for --config, with the valid choices."""
    from mjxrsm.config.algorithms import algorithm_names

    return (f"ENV,ALGO[,PRESET] config; ALGO in {{{', '.join(algorithm_names())}}}, PRESET in "
            f"{{{', '.join([AUTO, *PRESETS])}}} (default auto), ENV: any task (an unknown one "
            "lists them).")


def get_config(arg: str | None = None) -> ConfigDict:
    """`arg` = "ENV,ALGO[,PRESET]", e.g. "humanoid,dpmd" or "ant,sdac,parallel"."""
    from mjxrsm.config.algorithms import get_algorithm
    from mjxrsm.envs import canonical_name, check_env_name  # light import: no brax/mujoco

    parts = [p.strip() for p in ("inverted_pendulum,dpmd" if arg is None else arg).split(",")]
    if len(parts) not in (2, 3) or not all(parts):
        what = ("is empty" if not arg.strip() else "has an empty part" if len(parts) in (2, 3)
                else f"has {len(parts)} parts")
        raise ValueError(f"config arg {arg!r} {what}; expected ENV,ALGO[,PRESET], e.g. "
                         "humanoid,dpmd or hopper,sac,cpu")
    env, algo = parts[0], parts[1]
    preset = resolve_preset(parts[2] if len(parts) == 3 else AUTO)
    algorithm = get_algorithm(algo)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {[AUTO, *PRESETS]}")
    check_env_name(env)
    c = base_config()
    c.env.name = canonical_name(env)
    c.algo = algorithm.default_config()
    if env in ENV_BUDGETS:
        c.total_env_steps = ENV_BUDGETS[env]
        c.start_steps = min(c.start_steps, 5_000)
        c.eval_every = min(c.eval_every, 10_000)
    apply_preset(c, preset)
    return c
