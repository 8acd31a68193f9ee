"""Config overrides: the one parser behind the training CLI's `--config.<key>=<value>` and the
benchmarks' `--set KEY=VALUE`, and the dotted-key walks over an ml-collections config.

One parser, so the same text gives the same config value on either command line (a setting
tuned in a benchmark is the setting a training run gets). A value is read against the field it
replaces, as ml_collections' `config_flags` read `--config.<key>=<value>` before this module
took that over, so what the CLI accepted then it accepts now (keys are dotted names only:
config_flags' `algo['lr']` and `hidden[0]` paths are refused):

- bool: `true`/`false`, `t`/`f`, `1`/`0`, any case;
- int: an integer literal (`1_000_000`, `0x10`); `1.5`, `8.0` and `1e6` are refused;
- float: a number (`1e-4`, `3`, `nan`) or a fraction of two integers (`1/16` -> 0.0625; new:
  update-to-data ratios are written that way);
- tuple: a Python literal (`(64,64)`, `[64,64]`, `64,64`); one value `64` is `(64,)`;
- str: the text as typed (`standardize`);
- a section (e.g. `env.kwargs`): a dict literal, whose items are set one by one;
- a key the config lacks (`env.kwargs.<task option>`, or a key only another algorithm of a
  benchmark grid has): `true`/`false` (any case), a fraction, a Python literal, else the text.

This module imports neither JAX nor anything under `configs/` or `bench/`.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from ml_collections import ConfigDict

MISSING: Any = object()  # "no such field": read the text as a literal
_RAISE: Any = object()
_FRACTION = re.compile(r"\s*[+-]?\d+\s*/\s*\d+\s*")
_NAME = re.compile(r"[A-Za-z_]\w*")
_KEY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_TRUE, _FALSE = ("true", "t", "1"), ("false", "f", "0")
# What ast.literal_eval raises on text that is no literal (unhashable keys, absurd nesting too).
_NOT_LITERAL = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


class OverrideError(ValueError):
    """A bad override; the message is one line that names the key (the CLIs print it as is)."""

    def __init__(self, message: str, key: str):
        super().__init__(" ".join(message.split()))
        self.key = key


class UnknownKeyError(OverrideError):
    """An override of a key the config has no place for (a missing section, or a strict key)."""


# ----------------------------------------------------------------------------- dotted keys


def _is_section(node: Any) -> bool:
    return isinstance(node, ConfigDict | Mapping)


def _parent(config: Any, dotted: str) -> tuple[Any, str] | None:
    """The section holding `dotted`'s last part, or None where a part on the way is missing or
    is a value rather than a section."""
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        if not _is_section(node) or part not in node:
            return None
        node = node[part]
    return (node, leaf) if _is_section(node) else None


def has_key(config: Any, dotted: str) -> bool:
    """Whether `config` has the (dotted) key, a value or a section."""
    found = _parent(config, dotted)
    return found is not None and found[1] in found[0]


def get_key(config: Any, dotted: str, default: Any = _RAISE) -> Any:
    """The value at `dotted`; `default` where the key is missing (KeyError without one)."""
    found = _parent(config, dotted)
    if found is None or found[1] not in found[0]:
        if default is _RAISE:
            raise KeyError(dotted)
        return default
    return found[0][found[1]]


def _coerce(value: Any, current: Any) -> Any:
    """A typed value (a preset's, a sweep's, one that went through JSON) as the field's type:
    a list for a tuple field (JSON has no tuples), an int for a float field (`utd_ratio=1`)."""
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(value)
    if (isinstance(current, float) and isinstance(value, int)
            and not isinstance(value, bool)):
        return float(value)
    return value


def set_key(config: Any, dotted: str, value: Any, *, new_ok: bool = False) -> Any:
    """Set `dotted` to `value` (coerced to the field's type) and return what was set.

    A key the config lacks is refused unless `new_ok` (the CLI adds task options under
    `env.kwargs`, which `validate` then checks); its sections must exist either way. A mapping
    given for a section sets its items one by one."""
    found = _parent(config, dotted)
    if found is None or (not new_ok and found[1] not in found[0]):
        raise UnknownKeyError(f"{dotted} is not a config key", dotted)
    node, leaf = found
    current = node[leaf] if leaf in node else MISSING
    if _is_section(current) and isinstance(value, Mapping):
        for key, item in value.items():
            if not (isinstance(key, str) and _NAME.fullmatch(key)):
                raise OverrideError(f"{dotted}: {key!r} is not a setting name", dotted)
            set_key(config, f"{dotted}.{key}", item, new_ok=True)
        return current
    value = value if current is MISSING else _coerce(value, current)
    try:
        node[leaf] = value
    except TypeError as e:  # ConfigDict keeps a field's type
        raise OverrideError(f"{dotted}={value!r} does not fit the setting: {e}", dotted) from None
    return value


def apply_overrides(config: Any, overrides: Mapping[str, Any],
                    strict: bool = False) -> dict[str, Any]:
    """Set dotted keys of typed values (parsed, or a preset's); returns those applied.

    Keys the config lacks (e.g. `algo.num_particles` for SAC) are skipped unless `strict`, so one
    `--set` can address a benchmark grid of several algorithms."""
    applied = {}
    for dotted, value in overrides.items():
        if not has_key(config, dotted):
            if strict:
                raise UnknownKeyError(f"{dotted} is not a config key", dotted)
            continue
        applied[dotted] = set_key(config, dotted, value)
    return applied


# ----------------------------------------------------------------------------- text -> value


def _literal(text: str) -> Any:
    """A value with no field to read it against."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if _FRACTION.fullmatch(text):
        return _fraction(text)
    try:
        return ast.literal_eval(text)
    except _NOT_LITERAL:
        return text


def _fraction(text: str) -> float:
    try:
        return float(Fraction(text.replace(" ", "")))
    except ZeroDivisionError:
        raise ValueError("division by zero") from None


def _tuple(text: str) -> tuple:
    try:
        value = ast.literal_eval(text)
    except _NOT_LITERAL:
        if re.search(r"[\s,()\[\]]", text):  # meant as a tuple, but not a literal
            raise ValueError("not a tuple literal") from None
        return (text,)  # one unquoted word, as config_flags read it
    if isinstance(value, tuple | list):
        return tuple(value)
    return (value,)


def parse_value(text: str, like: Any = MISSING) -> Any:
    """`text` as the value of a field that now holds `like` (rules in the module docstring);
    MISSING (or None) for a key with no field. Raises ValueError where the text cannot be one."""
    if like is MISSING or like is None:
        return _literal(text)
    if isinstance(like, bool):
        low = text.strip().lower()
        if low not in _TRUE + _FALSE:
            raise ValueError("not a bool")
        return low in _TRUE
    if isinstance(like, int):
        stripped = text.strip()
        base = 0 if re.fullmatch(r"[+-]?0[xXoObB]\w+", stripped) else 10
        return int(stripped, base)
    if isinstance(like, float):
        if _FRACTION.fullmatch(text):
            return _fraction(text)
        return float(text)
    if isinstance(like, tuple):
        return _tuple(text)
    if isinstance(like, str):
        return text
    if _is_section(like):
        value = ast.literal_eval(text)  # raises for text that is no literal
        if not isinstance(value, dict):
            raise ValueError("not a dict")
        return value
    return _literal(text)


def describe_key(config: Any, key: str) -> str:
    """What `key` may hold and its value in `config`, for an error message: the setting's range
    where it has one (mjxrsm/config/ranges.py), else its type."""
    current = get_key(config, key, None)
    if _is_section(current):
        return f"valid: a dict of {key}'s settings, or one of them: {key}.<name>=<value>"
    spec = None
    algo = get_key(config, "algo.name", None)
    if isinstance(algo, str):
        from mjxrsm.config.check import setting_ranges  # check uses this module: import late

        try:
            spec = setting_ranges(algo).get(key)
        except ValueError:  # an unregistered algorithm: no ranges to show
            spec = None
    valid = spec.describe() if spec is not None else f"a {type(current).__name__}"
    return f"valid: {valid} (default {current!r})"


def _parsed(config: Any, key: str, text: str, where: str) -> Any:
    """`text` read against `key`'s field in `config`; OverrideError naming the key otherwise."""
    try:
        return parse_value(text, get_key(config, key, MISSING))
    except _NOT_LITERAL:
        raise OverrideError(f"{where}{key}={text!r} is not valid; {describe_key(config, key)}",
                            key) from None


def _field_config(configs: Sequence[Any], key: str) -> Any:
    """The first of `configs` that has `key` (a benchmark grid's algorithms share their keys'
    types), else the first config: the key is then read as a literal."""
    return next((c for c in configs if has_key(c, key)), configs[0] if configs else ConfigDict())


def split_assignment(item: str, example: str = "KEY=VALUE",
                     where: str = "--set ") -> tuple[str, str]:
    """'algo.lr=1e-4' -> ('algo.lr', '1e-4'); OverrideError for text without a key and a '='."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise OverrideError(f"{where.strip()}: expected {example}, got {item!r}", key)
    if not _KEY.fullmatch(key):
        raise OverrideError(f"{where.strip()}: {key!r} is not a dotted config key (e.g. algo.lr) "
                            f"in {item!r}", key)
    return key, value


def parse_assignments(items: Iterable[str], configs: Sequence[Any] = (),
                      where: str = "--set ") -> dict[str, Any]:
    """['algo.lr=1e-4', 'num_envs=64'] -> {'algo.lr': 1e-4, 'num_envs': 64}, each value read
    against the first of `configs` that has its key (a literal where none has it)."""
    out = {}
    for item in items:
        key, text = split_assignment(item, where=where)
        out[key] = _parsed(_field_config(configs, key), key, text, where)
    return out


def split_values(text: str) -> list[str]:
    """'8,16,32' -> ['8', '16', '32']; commas inside brackets stay with their value:
    '(64,64),(256,256)' -> ['(64,64)', '(256,256)']."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_sweeps(items: Iterable[str], configs: Sequence[Any] = (),
                 where: str = "--sweep ") -> dict[str, list[Any]]:
    """['algo.num_particles=8,16,32'] -> {'algo.num_particles': [8, 16, 32]}, each value read as
    `parse_assignments` reads one: 'algo.hidden=(64,64),(256,256)' gives two tuples."""
    out = {}
    for item in items:
        key, values = split_assignment(item, "KEY=V1,V2,...", where)
        field = _field_config(configs, key)
        out[key] = [_parsed(field, key, text, where) for text in split_values(values)]
    return out


# ----------------------------------------------------------------------------- --config.<key>


@dataclasses.dataclass(frozen=True)
class FlagOverride:
    """One `--config.<key>=<value>` as typed. `text` is None for a bare `--config.<key>` or
    `--no<flag>.<key>` (True / False for a bool); `spaced` when the text was the next argument
    (`--config.seed 3`), which for a bool is a stray argument instead."""

    arg: str
    key: str
    text: str | None
    negated: bool = False
    spaced: bool = False


def split_flag_overrides(argv: Sequence[str],
                         flag: str = "config") -> tuple[list[str], list[FlagOverride]]:
    """argv without its `--<flag>.<key>[=<value>]` / `--no<flag>.<key>` arguments, and those
    overrides in order (the flag library parses the rest)."""
    pattern = re.compile(rf"-{{1,2}}(no)?{re.escape(flag)}\.")
    rest: list[str] = list(argv[:1])
    found: list[FlagOverride] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        match = pattern.match(arg)
        i += 1
        if not match:
            rest.append(arg)
            continue
        name, sep, text = arg[match.end():].partition("=")
        negated = match.group(1) is not None
        if sep:
            found.append(FlagOverride(arg, name, text, negated))
        elif (not negated and i < len(argv)
              and not re.match(r"-{1,2}[A-Za-z_]", argv[i])):  # `--config.seed 3`
            found.append(FlagOverride(arg, name, argv[i], spaced=True))
            i += 1
        else:
            found.append(FlagOverride(arg, name, None, negated))
    return rest, found


def parse_flag_overrides(config: Any, overrides: Sequence[FlagOverride],
                         flag: str = "config") -> dict[str, Any]:
    """{key: value} of `--<flag>.<key>=<value>` overrides, read against `config` (unchanged);
    OverrideError (UnknownKeyError for a key with no section to go in) on the first bad one.

    As before with config_flags: the last value of a key wins, except that a tuple field given
    several times collects them (`--config.algo.hidden=64 --config.algo.hidden=64` is (64, 64));
    a bare `--config.<key>` is True for a bool and `--noconfig.<key>` False."""
    prefix = f"--{flag}."
    values: dict[str, Any] = {}
    for o in overrides:
        if not _KEY.fullmatch(o.key):
            raise OverrideError(f"{o.arg}: {o.key!r} is not a dotted config key (expected "
                                f"{prefix}<section>.<key>=<value>)", o.key)
        if _parent(config, o.key) is None:
            raise UnknownKeyError(f"{prefix}{o.key}: {o.key} is not a config key", o.key)
        like = get_key(config, o.key, MISSING)
        boolean = like is MISSING or isinstance(like, bool)
        if o.negated and o.text is not None:
            raise OverrideError(f"{o.arg}: --no{flag}.{o.key} takes no value; use "
                                f"{prefix}{o.key}={o.text}", o.key)
        if boolean and o.spaced:
            raise OverrideError(f"unexpected argument {o.text!r} after {o.arg} (flags take the "
                                f"form --name=value: {prefix}{o.key}={o.text})", o.key)
        if o.text is None:
            if not boolean:
                raise OverrideError(f"{o.arg} needs a value: {prefix}{o.key}=<value> "
                                    f"({describe_key(config, o.key)})", o.key)
            values[o.key] = not o.negated
            continue
        value = _parsed(config, o.key, o.text, prefix)
        if isinstance(like, tuple) and o.key in values:
            value = values.pop(o.key) + value
        values.pop(o.key, None)  # the last occurrence decides the order, too
        values[o.key] = value
    return values

