"""Turn the training command line into a checked request, or refuse it with one line.

Everything a user types (`--config=...:ENV,ALGO[,PRESET]`, `--config.<key>=<value>`, `--workdir`,
`--resume`) is checked here before JAX is imported: a refusal is `error: <what>` on stderr, exit
status 2, no traceback, and nothing written (no run directory, no compilation cache).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterable
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
    """--config: the ENV,ALGO[,PRESET] config file. Its --config.<key> overrides are not left to
    config_flags: `parse` reads them with mjxrsm/config/overrides.py, the parser the benchmarks'
    --set uses too, so the flag sees argv without them."""
    from mjxrsm.config.files import config_module
    from mjxrsm.config.overrides import split_flag_overrides

    usage = config_module("train").usage
    plain, _ = split_flag_overrides(_expanded(flag_values, argv))
    config_flags.DEFINE_config_file("config", "configs/train.py", usage(), flag_values=flag_values,
                                    lock_config=False, sys_argv=plain)


def _expanded(flag_values: flags.FlagValues, argv: list[str]) -> list[str]:
    """argv with any --flagfile read in, so overrides kept in a flag file count too (an unreadable
    one is left for the flag parser to report)."""
    try:
        return flag_values.read_flags_from_files(list(argv), force_gnu=False)
    except flags.Error:
        return list(argv)


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


def _flag_error(error: flags.Error) -> UsageError:
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
    return UsageError(one_line(text.split("\n", 1)[0]))


def _parse_flags(flag_values: flags.FlagValues, argv: list[str]) -> None:
    """The flags other than the --config.<key> overrides (absl's parser)."""
    try:
        rest = flag_values(argv)
    except flags.Error as e:
        raise _flag_error(e) from None
    if len(rest) > 1:
        raise UsageError(f"unexpected argument {rest[1]!r} (flags take the form --name=value)")


def _refuse_names(keys: Iterable[str]) -> None:
    for key in keys:
        if key in NAME_KEYS:
            raise UsageError(f"--config.{key} cannot be overridden; choose {NAME_KEYS[key]} in "
                             f"{USAGE}")


def _apply_overrides(config: ConfigDict, argv: list[str]) -> None:
    """The --config.<key>=<value> overrides, read against the loaded config by the library's one
    override parser (mjxrsm/config/overrides.py; the benchmarks' --set uses it too), then set.
    New keys are accepted here (env.kwargs.* depend on the task) and refused by `validate`."""
    from mjxrsm.config.check import closest_key
    from mjxrsm.config.overrides import (
        OverrideError,
        UnknownKeyError,
        parse_flag_overrides,
        set_key,
        split_flag_overrides,
    )
    from mjxrsm.config.ranges import flat_items

    _, found = split_flag_overrides(argv)
    _refuse_names(o.key for o in found)
    try:
        values = parse_flag_overrides(config, found)
        _refuse_names(flat_items(values))  # a name inside a section's dict
        for key, value in values.items():
            set_key(config, key, value, new_ok=True)
    except UnknownKeyError as e:
        close = closest_key(e.key, set(flat_items(config)))
        hint = f"; did you mean {close}?" if close else ""
        raise UsageError(f"{e}{hint}") from None
    except OverrideError as e:
        raise UsageError(str(e)) from None


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
    from mjxrsm.config.overrides import split_flag_overrides
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
    argv = _expanded(flag_values, argv)
    _parse_flags(flag_values, split_flag_overrides(argv)[0])
    config = _config(flag_values, argv)
    _apply_overrides(config, argv)
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

