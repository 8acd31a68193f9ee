"""Validate a resolved config before anything is compiled, with messages that name the choices."""

from __future__ import annotations

from ml_collections import ConfigDict

from mjxrsm import diffusion, rsm
from mjxrsm.networks import ACTIVATIONS

CHOICES = {
    "algo.beta_schedule": diffusion.SCHEDULES,
    "algo.sampler": diffusion.SAMPLERS,
    "algo.sampler_variance": diffusion.VARIANCES,
    "algo.q_norm": rsm.Q_NORMS,
    "algo.act_with": ("target", "online"),
    "algo.activation": tuple(ACTIVATIONS),
}
POSITIVE_INTS = ("num_envs", "total_env_steps", "replay_capacity", "log_every", "eval_every",
                 "eval_episodes", "checkpoint_every", "keep_checkpoints",
                 "algo.batch_size", "algo.num_particles", "algo.diffusion_steps",
                 "algo.num_candidates", "algo.policy_delay", "algo.target_update_every",
                 "algo.alpha_update_every", "algo.num_critics")
POSITIVE_FLOATS = ("utd_ratio", "algo.lr", "algo.critic_lr", "algo.alpha_lr", "algo.alpha_init",
                   "algo.temp_factor", "algo.beta_schedule_scale")


def _get(config: ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        if part not in node:
            return None
        node = node[part]
    return node


def _flat_keys(node: ConfigDict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in node.items():
        keys |= _flat_keys(v, f"{prefix}{k}.") if isinstance(v, ConfigDict) else {prefix + k}
    return keys


def unknown_keys(config: ConfigDict) -> list[str]:
    """Keys the config of the same ENV,ALGO,PRESET lacks: typos. The CLI accepts new keys (it
    must, for `env.kwargs.*`, whose names depend on the task), so they are caught here."""
    from configs.train import get_config

    reference = get_config(f"{config.env.name},{config.algo.name},{config.preset}")
    extra = {k for k in _flat_keys(config) - _flat_keys(reference)
             if not k.startswith("env.kwargs.")}
    return [f"{k} is not a config key (misspelt?)" for k in sorted(extra)]


def _mesh_errors(config: ConfigDict) -> list[str]:
    """The device count exists and every global size splits evenly over it."""
    from mjxrsm.sharding import divisibility_errors, resolve_devices

    try:
        n = len(resolve_devices(config.get("mesh", {}).get("devices", 1)))
    except ValueError as e:
        return [str(e)]
    return divisibility_errors(config, n)


class ConfigError(ValueError):
    """A config value that cannot work; raised before any compilation."""


def validate(config: ConfigDict) -> None:
    from mjxrsm.algorithms import get_algorithm
    from mjxrsm.envs import check_env_kwargs, check_env_name
    from mjxrsm.envs.options import env_kwargs
    from mjxrsm.trainer import UpdateSchedule

    errors = []
    for field, check in (("env.name", check_env_name), ("algo.name", get_algorithm)):
        try:
            check(_get(config, field))
        except ValueError as e:
            errors.append(f"{field}: {e}")
    if not errors:
        errors += unknown_keys(config)
        try:
            check_env_kwargs(config.env.name, env_kwargs(config))
        except ValueError as e:
            errors.append(f"env.kwargs: {e}")
    for key, choices in CHOICES.items():
        value = _get(config, key)
        if value is not None and value not in choices:
            errors.append(f"{key}={value!r} is not valid; choose one of {list(choices)}")
    for key in POSITIVE_INTS:
        value = _get(config, key)
        if value is not None and (not isinstance(value, int) or value < 1):
            errors.append(f"{key}={value!r} must be a positive integer")
    for key in POSITIVE_FLOATS:
        value = _get(config, key)
        if value is not None and not value > 0:
            errors.append(f"{key}={value!r} must be > 0")
    if not isinstance(config.env.episode_length, int) or config.env.episode_length < 0:
        errors.append("env.episode_length must be >= 0 (0 = the task's own time limit)")
    if config.start_steps < config.algo.batch_size:
        errors.append(f"start_steps={config.start_steps} must be >= algo.batch_size="
                      f"{config.algo.batch_size} (the first update samples a full batch)")
    if config.replay_capacity < config.start_steps:
        errors.append("replay_capacity must be >= start_steps")
    if config.num_envs > config.replay_capacity:
        errors.append("num_envs must be <= replay_capacity")
    try:
        UpdateSchedule.from_ratio(config.utd_ratio, config.num_envs)
    except ValueError as e:
        errors.append(str(e))
    errors += _mesh_errors(config)
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(errors))
