"""What each config setting may hold, declared next to its default.

Every config file pairs `get_config()` (the defaults) with a `RANGES = {key: spec}` table beside
it, so a setting and its valid values are written in one place; `config_check.validate` checks a
config against the tables and a test fails if any setting has no spec. This module is plain
Python on purpose: bad input is refused before JAX is imported, so it answers in a second.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any


def _num(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


class Spec:
    """One setting's valid values: `problem(value)` is None when valid, else what would be."""

    def problem(self, value: Any) -> str | None:
        raise NotImplementedError

    def describe(self) -> str:
        """The valid values in words (error messages, docs)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Int(Spec):
    """An integer in [lo, hi] (hi None = unbounded)."""

    lo: int = 1
    hi: int | None = None

    def describe(self) -> str:
        if self.hi is None:
            return f"an integer >= {_num(self.lo)}"
        return f"an integer in [{_num(self.lo)}, {_num(self.hi)}]"

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return self.describe()
        if value < self.lo or (self.hi is not None and value > self.hi):
            return self.describe()
        return None


@dataclasses.dataclass(frozen=True)
class Real(Spec):
    """A finite number between lo and hi; `*_open` excludes that end (None = unbounded)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"a number in {left}{_num(self.lo)}, {_num(self.hi)}{right}"
        if self.lo is not None:
            return f"a number {'>' if self.lo_open else '>='} {_num(self.lo)}"
        if self.hi is not None:
            return f"a number {'<' if self.hi_open else '<='} {_num(self.hi)}"
        return "a finite number"

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.describe()
        if not math.isfinite(value):
            return self.describe()
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return self.describe()
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return self.describe()
        return None


@dataclasses.dataclass(frozen=True)
class Choice(Spec):
    """One of a fixed set of values."""

    options: tuple[Any, ...]

    def describe(self) -> str:
        return f"one of {list(self.options)}"

    def problem(self, value: Any) -> str | None:
        return None if value in self.options else self.describe()


@dataclasses.dataclass(frozen=True)
class Bool(Spec):
    def describe(self) -> str:
        return "True or False"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else self.describe()


@dataclasses.dataclass(frozen=True)
class Widths(Spec):
    """Hidden-layer widths: a tuple of integers in [1, hi]; `empty_ok` when () means a default."""

    hi: int = 65_536
    empty_ok: bool = False

    def describe(self) -> str:
        base = f"a tuple of layer widths, each an integer in [1, {_num(self.hi)}], e.g. (256,256)"
        return base + (" (or () for the default)" if self.empty_ok else "")

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, tuple | list) or (not value and not self.empty_ok):
            return self.describe()
        ok = all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= self.hi
                 for w in value)
        return None if ok else self.describe()


@dataclasses.dataclass(frozen=True)
class Name(Spec):
    """A name checked elsewhere (a registry); here only that it is a non-empty string."""

    checked_by: str

    def describe(self) -> str:
        return f"a name ({self.checked_by})"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, str) and value else self.describe()


def flat_items(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as {"a.b.c": value}; mappings are descended into, not values."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping) or hasattr(value, "items"):  # dict or ConfigDict
            out.update(flat_items(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def out_of_range(values: Mapping[str, Any], ranges: Mapping[str, Spec],
                 prefix: str = "") -> list[str]:
    """One message per setting of `values` (flat) that its spec refuses."""
    errors = []
    for key, value in values.items():
        spec = ranges.get(key)
        if spec is not None and (valid := spec.problem(value)) is not None:
            errors.append(f"{prefix}{key}={value!r} is out of range; valid: {valid}")
    return errors


def unranged(keys: Sequence[str], ranges: Mapping[str, Spec]) -> list[str]:
    """Settings without a spec: a test keeps this empty, so no setting goes unchecked."""
    return sorted(k for k in keys if k not in ranges)


# Specs that several config files share (one meaning, one range).
LEARNING_RATE = Real(0.0, 1.0, lo_open=True)
DISCOUNT = Real(0.0, 1.0, hi_open=True)  # gamma = 1 never forgets: returns grow without bound
POLYAK = Real(0.0, 1.0, lo_open=True)  # tau = 0 would freeze the target networks
COUNT = Int(1, 1_000_000_000)
ENV_STEPS = Int(1, 2_000_000_000)  # the trainer's step counters are int32

