"""Task constructor options (`env.kwargs` in the config), checked against the task's signature
before anything is built or compiled, so a misspelt option fails with the valid ones listed
instead of deep inside a constructor (or, worse, being swallowed by a `**kwargs`)."""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

_NAMED = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def constructor_options(cls: type) -> dict[str, Any] | None:
    """Keyword options of `cls(...)` -> their defaults (`inspect.Parameter.empty` if required),
    following `**kwargs` up the class hierarchy (the Gymnasium tasks pass theirs to a base
    class). None when the chain ends in an open `**kwargs` (nothing can be checked)."""
    options: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object:
            return options
        params = list(inspect.signature(init).parameters.values())[1:]  # drop self
        for p in params:
            if p.kind in _NAMED:
                options.setdefault(p.name, p.default)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return options
    return None


def _hints(cls: type) -> dict[str, Any]:
    """Type annotations of the constructors along `cls`'s `**kwargs` chain (what resolves)."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            hints.update(typing.get_type_hints(init))
        except Exception:  # noqa: BLE001 - an unresolvable annotation: fall back to defaults
            continue
    return hints


def _accepts(kind: Any, value: Any) -> bool:
    """Whether `value` fits the annotation `kind` (the scalar, union and tuple forms the tasks'
    constructors use; anything else is accepted)."""
    if kind is Any:
        return True
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (bool, str):
        return isinstance(value, kind)
    if kind is type(None):
        return value is None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(k, value) for k in typing.get_args(kind))
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_accepts(args[0], v) for v in value)
        return len(value) == len(args) and all(map(_accepts, args, value))
    return True


def _type_errors(task: str, cls: type, kwargs: Mapping[str, Any],
                 options: dict[str, Any]) -> list[str]:
    """`env.kwargs.<k>=<v>` of the wrong type, checked against the constructor's annotation
    (else its default's type), so `ctrl_cost_weight=abc` is refused before anything is built."""
    hints = _hints(cls)
    errors = []
    for k, v in kwargs.items():
        kind = hints.get(k)
        default = options.get(k, inspect.Parameter.empty)
        if kind is None and default not in (inspect.Parameter.empty, None):
            kind = type(default)
        if kind is not None and not _accepts(kind, v):
            want = getattr(kind, "__name__", None) or str(kind).replace("typing.", "")
            shown = "" if default is inspect.Parameter.empty else f", default {default!r}"
            errors.append(f"env.kwargs.{k}={v!r} is not a {want} (option of {task!r}{shown})")
    return errors


def check_options(task: str, cls: type | None, kwargs: Mapping[str, Any],
                  reserved: tuple[str, ...] = ()) -> None:
    """Raise ValueError naming every option of `kwargs` that `cls` does not accept, or whose
    value has the wrong type."""
    options = constructor_options(cls) if cls is not None else None
    if options is None:
        return
    valid = sorted(k for k in options if k not in reserved)
    bad = [k for k in kwargs if k not in valid]
    if not bad:
        errors = _type_errors(task, cls, kwargs, options)
        if errors:
            raise ValueError("; ".join(errors))
        return
    hints = []
    for k in bad:
        close = difflib.get_close_matches(k, valid, n=1)
        hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ValueError(f"env {task!r} has no option {', '.join(hints)}; its options are {valid}")


def env_kwargs(config: Any) -> dict[str, Any]:
    """`make_env`'s keyword arguments from a run config: the engine (`env.impl`, `env.nthread`)
    and the task's constructor options (`env.kwargs`). Configs saved before a setting existed
    lack it: before engines they ran MJX's JAX implementation."""
    kwargs = config.env.get("kwargs")
    return {
        "impl": config.env.get("impl", "jax"),
        "nthread": int(config.env.get("nthread", 0)),
        **(kwargs.to_dict() if kwargs is not None else {}),
    }


def task_options(config: Any) -> dict[str, Any]:
    """Only the task's constructor options (`env.kwargs`)."""
    kwargs = config.env.get("kwargs")
    return kwargs.to_dict() if kwargs is not None else {}
