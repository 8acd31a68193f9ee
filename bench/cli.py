"""The bench CLIs' argument handling: a bad argument is one `error:` line on stderr and exit
status 2, as for the training CLI (no usage dump, no traceback), and counts, sizes and durations
are refused when not positive."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, NoReturn


def fail(message: str) -> NoReturn:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    sys.exit(2)


def read_json(path: Path, missing: str = "no such file", after: str = "") -> Any:
    """A JSON file's contents, or one `error:` line naming the file (`missing` when it is not a
    file; `after` appended to a parse error, e.g. what was left unwritten)."""
    if not path.is_file():
        fail(f"{path}: {missing}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        fail(f"{path}: not valid JSON ({e}){after}")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its two-line usage + error replaced by one `error:` line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (`{self.prog} --help` lists the arguments)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (valid: >= 1)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer (valid: >= 1)")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (valid: >= 0)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative (valid: >= 0)")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (valid: > 0)") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{value} is not a positive number (valid: > 0)")
    return value


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (valid: >= 0)") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{value} is not a number >= 0")
    return value


def check_envs(envs: tuple[str, ...] | list[str], flag: str = "--envs") -> None:
    """Refuse an unknown task name before any worker starts (the registry lists the valid)."""
    from mjxrsm.envs import check_env_name

    for env in envs:
        try:
            check_env_name(env)
        except ValueError as e:
            fail(f"{flag}: {e}")


def clock_time(text: str) -> float:
    """'HH:MM' (its next occurrence, local time) or an ISO 8601 date and time -> epoch seconds."""
    import datetime as dt

    try:
        if len(text) <= 5 and ":" in text:
            hh, mm = (int(x) for x in text.split(":"))
            now = dt.datetime.now()
            when = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            return (when if when > now else when + dt.timedelta(days=1)).timestamp()
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (valid: HH:MM, or a date and time like "
            "2026-12-08T03:58)") from None
