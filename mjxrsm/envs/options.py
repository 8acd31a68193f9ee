"""Task constructor options (`env.kwargs` in the config), checked against the task's signature
before anything is built or compiled, so a misspelt option fails with the valid ones listed
instead of deep inside a constructor (or, worse, being swallowed by a `**kwargs`)."""

from __future__ import annotations

import difflib
import inspect
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


def check_options(task: str, cls: type | None, kwargs: Mapping[str, Any],
                  reserved: tuple[str, ...] = ()) -> None:
    """Raise ValueError naming every option of `kwargs` that `cls` does not accept."""
    options = constructor_options(cls) if cls is not None else None
    if options is None:
        return
    valid = sorted(k for k in options if k not in reserved)
    bad = [k for k in kwargs if k not in valid]
    if not bad:
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
