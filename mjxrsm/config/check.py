"""Validate a resolved config before anything is imported or compiled, with messages that name the
setting, the bad value and what would be valid.

Per-setting ranges live beside the defaults (`RANGES` in configs/train.py and in each
configs/algos/<name>.py, specs from mjxrsm/config/ranges.py); this module applies them, finds
misspelt
keys, and checks the rules that tie several settings together. It imports no JAX (only an
`env.kwargs` check may, to read a task's constructor).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping

from ml_collections import ConfigDict

from mjxrsm.config.files import config_module
from mjxrsm.config.overrides import get_key
from mjxrsm.config.ranges import Spec, flat_items, out_of_range

INT32_MAX = 2**31 - 1  # the trainer's env-step counters are int32


class ConfigError(ValueError):
    """A config value that cannot work; raised before any compilation. `problems` holds one
    sentence per bad setting; the message joins them on one line (the CLI prints one line)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid config: " + "; ".join(self.problems))


def _flat_keys(node: ConfigDict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in node.items():
        keys |= _flat_keys(v, f"{prefix}{k}.") if isinstance(v, ConfigDict) else {prefix + k}
    return keys


def closest_key(key: str, valid: set[str]) -> str | None:
    """The valid key `key` most likely meant: a near spelling, else the same leaf name in another
    section (`lr` -> `algo.lr`)."""
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.75)
    if close:
        return close[0]
    leaf = key.rsplit(".", 1)[-1]
    same_leaf = sorted(k for k in valid if k.rsplit(".", 1)[-1] == leaf)
    if same_leaf:
        return same_leaf[0]
    close = difflib.get_close_matches(leaf, sorted({k.rsplit(".", 1)[-1] for k in valid}), n=1)
    return next((k for k in sorted(valid) if close and k.endswith("." + close[0])), None)


def unknown_keys(config: ConfigDict) -> list[str]:
    """Keys the config of the same ENV,ALGO,PRESET lacks: typos. The CLI accepts new keys (it
    must, for `env.kwargs.*`, whose names depend on the task), so they are caught here."""
    get_config = config_module("train").get_config

    reference = _flat_keys(get_config(f"{config.env.name},{config.algo.name},{config.preset}"))
    extra = {k for k in _flat_keys(config) - reference if not k.startswith("env.kwargs.")}
    problems = []
    for key in sorted(extra):
        close = closest_key(key, reference)
        hint = f"; did you mean {close}?" if close else ""
        problems.append(f"{key} is not a config key{hint}")
    return problems


def setting_ranges(algo: str) -> dict[str, Spec]:
    """Every setting's spec, as dotted keys of the full config (run-level and `algo.*`)."""
    RANGES = config_module("train").RANGES
    from mjxrsm.config.algorithms import get_algorithm

    algo_ranges: Mapping[str, Spec] = get_algorithm(algo).ranges() or {}
    return {**RANGES, **{f"algo.{k}": v for k, v in algo_ranges.items()}}


CROSS_SETTING_KEYS = ("start_steps", "algo.batch_size", "replay_capacity", "num_envs",
                      "total_env_steps", "log_every", "utd_ratio")


def _cross_setting(config: ConfigDict) -> list[str]:
    """Rules that tie settings together (each setting already in its own range)."""
    from mjxrsm.core.schedule import UpdateSchedule

    errors = []
    if config.start_steps < config.algo.batch_size:
        errors.append(f"start_steps={config.start_steps} must be >= algo.batch_size="
                      f"{config.algo.batch_size} (the first update samples a full batch)")
    if config.replay_capacity < max(config.start_steps, config.algo.batch_size):
        errors.append(f"replay_capacity={config.replay_capacity} must be >= start_steps="
                      f"{config.start_steps} and >= algo.batch_size={config.algo.batch_size}")
    if config.num_envs > config.replay_capacity:
        errors.append(f"num_envs={config.num_envs} must be <= replay_capacity="
                      f"{config.replay_capacity}")
    last = config.start_steps + config.total_env_steps + config.log_every + config.num_envs
    if last > INT32_MAX:
        errors.append(f"start_steps + total_env_steps + log_every = {last:,} must stay below "
                      f"{INT32_MAX:,} (the trainer counts env steps in int32)")
    try:
        UpdateSchedule.from_ratio(config.utd_ratio, config.num_envs)
    except ValueError as e:
        errors.append(f"utd_ratio={config.utd_ratio!r}: {e}")
    return errors


def divisibility_errors(config: ConfigDict, n: int) -> list[str]:
    """The global sizes that must split evenly over `n` devices, with what to change."""
    sizes = {
        "num_envs": config.num_envs,
        "algo.batch_size": config.algo.batch_size,
        "replay_capacity": config.replay_capacity,
        "eval_episodes": config.eval_episodes,
    }
    errors = []
    for key, value in sizes.items():
        if isinstance(value, int) and value % n:
            lo, hi = value // n * n, -(-value // n) * n
            near = f"{hi}" if lo == 0 else f"{lo} or {hi}"
            errors.append(
                f"{key}={value} does not divide by the {n} devices of the mesh (each device takes "
                f"{key}/{n}); use {near}, or another --config.mesh.devices"
            )
    return errors


def _mesh_errors(config: ConfigDict) -> list[str]:
    """An explicit device count must divide every global size, and exist once JAX is loaded.
    This module does not import JAX (the CLI refuses bad input before loading it), so without
    JAX, and for `mesh.devices=0` (all devices), make_trainer checks the rest."""
    n = config.get("mesh", {}).get("devices", 1)
    if not isinstance(n, int) or n <= 1:
        return []
    from mjxrsm.config.platform import cpu_device_count, may_have_accelerator

    if "jax" not in sys.modules and not may_have_accelerator() and n > cpu_device_count():
        return [f"mesh.devices={n} but only {cpu_device_count()} device(s) exist here (CPU); "
                "use --config.mesh.devices=1 (or JAX_NUM_CPU_DEVICES=N to split the CPU into N)"]
    if "jax" in sys.modules:
        from mjxrsm.core.sharding import resolve_devices

        try:
            resolve_devices(n)
        except ValueError as e:
            return [str(e)]
    return divisibility_errors(config, n)


def temperature_pace(config: ConfigDict) -> float | None:
    """How far log alpha moves per env step: Adam moves it by about its learning rate per step,
    so alpha_lr * utd_ratio / alpha_update_every. None for an agent without a learned alpha."""
    algo = config.algo
    if not algo.get("alpha_lr"):
        return None
    return algo.alpha_lr * config.utd_ratio / algo.get("alpha_update_every", 1)


def advisories(config: ConfigDict) -> list[str]:
    """Valid settings that probably do not do what was meant, one sentence each (printed, not
    raised). Today: a `utd_ratio` changed from its preset's value with the temperature's rate
    left as it was, which re-paces alpha per env step (docs/PRESETS.md: the parallel preset's
    SAC kept a near-uniform policy for 500k env steps when alpha was paced 64x too slowly)."""
    get_config = config_module("train").get_config

    reference = get_config(f"{config.env.name},{config.algo.name},{config.preset}")
    pace, pace_then = temperature_pace(config), temperature_pace(reference)
    same_rate = all(config.algo.get(k) == reference.algo.get(k)
                    for k in ("alpha_lr", "alpha_update_every"))
    if pace is None or pace_then is None or not same_rate or pace == pace_then:
        return []
    keep = reference.algo.alpha_lr * reference.utd_ratio / config.utd_ratio
    return [f"utd_ratio={config.utd_ratio:g} (preset {config.preset!r}: "
            f"{reference.utd_ratio:g}) with the preset's algo.alpha_lr makes alpha anneal "
            f"{pace / pace_then:.3g}x as fast per env step as the preset tuned it; to keep the "
            f"preset's pace add --config.algo.alpha_lr={keep:.4g}"]


def validate(config: ConfigDict) -> None:
    """Raise ConfigError listing every problem of `config` (names, keys, ranges, cross-setting
    rules, task options); returns quietly for a config that can be built."""
    from mjxrsm.config.algorithms import get_algorithm
    from mjxrsm.envs import check_env_impl, check_env_kwargs, check_env_name
    from mjxrsm.envs.options import task_options

    errors = []
    for field, check in (("env.name", check_env_name), ("algo.name", get_algorithm)):
        try:
            check(get_key(config, field, None))
        except ValueError as e:
            errors.append(f"{field}: {e}")
    if errors:
        raise ConfigError(errors)
    errors += unknown_keys(config)
    values = {k: v for k, v in flat_items(config).items() if not k.startswith("env.kwargs.")}
    bad_values = out_of_range(values, setting_ranges(config.algo.name))
    errors += bad_values
    # The cross-setting rules compare values, so they run only when those are in range.
    if not any(msg.startswith(f"{k}=") for msg in bad_values for k in CROSS_SETTING_KEYS):
        errors += _cross_setting(config)
    if not bad_values:
        errors += _mesh_errors(config)
    try:
        check_env_kwargs(config.env.name, task_options(config))
    except ValueError as e:
        errors.append(str(e) if str(e).startswith("env.kwargs.") else f"env.kwargs: {e}")
    if "impl" in config.env and not bad_values:
        try:
            check_env_impl(config.env.name, config.env.impl)
        except ValueError as e:
            errors.append(f"env.impl: {e}")
    if errors:
        raise ConfigError(errors)
