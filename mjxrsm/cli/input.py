"""Turn the training command line into a checked request, or refuse it with one line.

Everything a user types (`--config=...:ENV,ALGO[,PRESET]`, `--config.<key>=<value>`, `--workdir`,
`--resume`) is checked here before JAX is imported: a refusal is `error: <what>` on stderr, exit
status 2, no traceback, and nothing written (no run directory, no compilation cache).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import NoReturn

from absl import flags
from ml_collections import ConfigDict, config_flags

USAGE = "--config=configs/train.py:ENV,ALGO[,PRESET]"
HELP_FLAGS = ("-h", "--help", "--helpshort", "--helpfull", "-help")
# The names are chosen in --config=...:ENV,ALGO,PRESET; an override would leave the rest of the
# config (the algorithm's keys, the preset's values) belonging to the old name.
NAME_KEYS = {"env.name": "ENV", "algo.name": "ALGO", "preset": "PRESET"}


class UsageError(ValueError):
    """Bad input on the command line; its message is the one line the user sees."""


@dataclasses.dataclass(frozen=True)
class Request:
    config: ConfigDict
    workdir: Path
    resume: bool
    allow_config_change: bool
    max_chunks: int | None


def refuse(error: Exception) -> NoReturn:
    """The one way bad input ends: one `error:` line on stderr, exit status 2."""
    print(f"error: {one_line(str(error))}", file=sys.stderr, flush=True)
    sys.exit(2)


def one_line(text: str) -> str:
    return " ".join(text.split())


def define_config_flag(flag_values: flags.FlagValues, argv: list[str]) -> None:
    """--config: the ENV,ALGO[,PRESET] config file plus its --config.<key> overrides. New keys are
    accepted by the parser (env.kwargs.* depend on the task) and refused by `validate`."""
    from mjxrsm.config.files import config_module

    usage = config_module("train").usage

    config_flags.DEFINE_config_file("config", "configs/train.py", usage(), flag_values=flag_values,
                                    lock_config=False, accept_new_attributes=True, sys_argv=argv)


def _root_cause(error: BaseException) -> BaseException:
    while (error.__cause__ or error.__context__) is not None:
        nxt = error.__cause__ or error.__context__
        if isinstance(nxt, StopIteration):
            break
        error = nxt
    return error


def _config_arg(argv: list[str]) -> str | None:
    for arg in argv:
        if arg.startswith(("--config=", "-config=")):
            return arg.split("=", 1)[1]
    return None


def _reference(argv: list[str]) -> ConfigDict | None:
    """The config of the --config argument without overrides (for defaults and ranges)."""
    spec = _config_arg(argv) or "configs/train.py"
    if ":" not in spec:
        return None
    try:
        from mjxrsm.config.files import config_module

        get_config = config_module("train").get_config

        return get_config(spec.split(":", 1)[1])
    except ValueError:
        return None


def _describe_key(key: str, argv: list[str]) -> str:
    """What `--config.<key>` may hold: its range and its default."""
    from mjxrsm.config.check import setting_ranges
    from mjxrsm.config.ranges import flat_items

    ref = _reference(argv)
    if ref is None:
        return "see the config's defaults"
    spec = setting_ranges(ref.algo.name).get(key)
    default = flat_items(ref).get(key)
    valid = spec.describe() if spec is not None else f"a {type(default).__name__}"
    return f"valid: {valid} (default {default!r})"


def _flag_error(error: flags.Error, argv: list[str]) -> UsageError:
    """The absl/ml_collections error as one line that names the flag, the value and what is
    valid."""
    text = str(error)
    if isinstance(error, flags.UnrecognizedFlagError):
        name = getattr(error, "flagname", None) or text
        hint = re.search(r"Did you mean: (\S+) \?", text)
        suggestion = f"; did you mean --{hint.group(1)}?" if hint else ""
        return UsageError(f"unknown flag --{name}{suggestion} (usage: {USAGE} --workdir=DIR "
                          "[--resume] [--allow_config_change] [--config.<key>=<value> ...])")
    match = re.match(r"flag --([^=]+)=(.*?): ", text, re.S)
    if match and match.group(1) == "config":
        cause = one_line(str(_root_cause(error)))
        return UsageError(f"--config={match.group(2)}: {cause} (expected {USAGE})")
    if match and match.group(1).startswith("config."):
        key = match.group(1)[len("config."):]
        value = next((a.split("=", 1)[1] for a in argv if a.startswith(f"--config.{key}=")),
                     match.group(2))
        return UsageError(f"--config.{key}={value!r} is not valid; {_describe_key(key, argv)}")
    return UsageError(one_line(text.split("\n", 1)[0]))


def _parse_flags(flag_values: flags.FlagValues, argv: list[str]) -> None:
    try:
        rest = flag_values(argv)
    except flags.Error as e:
        raise _flag_error(e, argv) from None
    except KeyError as e:  # --config.<unknown section>.<key>=...
        raise _unknown_section(str(e).strip("'\""), argv) from None
    except (TypeError, ValueError) as e:  # e.g. a new key given twice with different types
        raise UsageError(f"bad --config override: {one_line(str(e))}") from None
    if len(rest) > 1:
        raise UsageError(f"unexpected argument {rest[1]!r} (flags take the form --name=value)")


def _unknown_section(section: str, argv: list[str]) -> UsageError:
    from mjxrsm.config.check import closest_key
    from mjxrsm.config.ranges import flat_items

    key = next((a.split("=", 1)[0][len("--config."):] for a in argv
                if a.startswith(f"--config.{section}.") or a.startswith(f"--config.{section}=")),
               section)
    ref = _reference(argv)
    close = closest_key(key, set(flat_items(ref))) if ref is not None else None
    hint = f"; did you mean {close}?" if close else ""
    return UsageError(f"--config.{key}: {key} is not a config key{hint}")


def _config(flag_values: flags.FlagValues, argv: list[str]) -> ConfigDict:
    """The parsed config, or the one-line reason it cannot be loaded."""
    try:
        config = flag_values["config"].value
        ok = isinstance(config, ConfigDict) and "env" in config and "algo" in config
    except (OSError, AttributeError) as e:  # a missing config file surfaces on first access
        cause = one_line(str(_root_cause(e)))
        raise UsageError(f"--config={_config_arg(argv)}: {cause} (expected {USAGE})") from None
    if not ok:
        raise UsageError(f"--config={_config_arg(argv)} is not a training config (expected "
                         f"{USAGE})")
    return config


def parse(flag_values: flags.FlagValues, argv: list[str]) -> Request:
    """Parse and check the whole command line; raise UsageError (one line) on any bad input.

    `flag_values` must hold the flags defined by `mjxrsm.train.cli` (config via
    `define_config_flag(flag_values, argv)`)."""
    from mjxrsm.config.check import ConfigError, validate
    from mjxrsm.rundir.workdir import RunDirError, check_resume_config, check_workdir

    if any(a in HELP_FLAGS for a in argv[1:]):
        print(f"usage: python -m mjxrsm.train {USAGE} --workdir=DIR [--resume] "
              f"[--allow_config_change] [--config.<key>=<value> ...]\n\n"
              f"{flag_values.get_help()}", file=sys.stdout)
        sys.exit(0)
    spec = _config_arg(argv)
    if spec is None:
        raise UsageError(f"--config is required ({USAGE})")
    if not Path(spec.split(":", 1)[0]).is_file():
        raise UsageError(f"--config={spec}: no such config file {spec.split(':', 1)[0]!r} "
                         f"(expected {USAGE})")
    _parse_flags(flag_values, argv)
    config = _config(flag_values, argv)
    for arg in argv:
        key = arg.split("=", 1)[0].lstrip("-")
        for name, part in NAME_KEYS.items():
            if key in (f"config.{name}", f"noconfig.{name}"):
                raise UsageError(f"--config.{name} cannot be overridden; choose {part} in "
                                 f"{USAGE}")
    try:
        validate(config)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    workdir = flag_values["workdir"].value
    if workdir is not None and not workdir.strip():
        raise UsageError("--workdir is empty; give a directory, e.g. --workdir=runs/x")
    workdir = Path(workdir or f"runs/{config.env.name}-{config.algo.name}-{config.seed}")
    resume = bool(flag_values["resume"].value)
    allow = bool(flag_values["allow_config_change"].value)
    try:
        check_workdir(workdir, resume)
        if resume:
            check_resume_config(workdir, config, allow)
    except RunDirError as e:
        raise UsageError(str(e)) from None
    return Request(config, workdir, resume, allow, flag_values["max_chunks"].value)

