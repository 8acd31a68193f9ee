"""Task registry: one name -> one `Env`, whatever the task source.

Sources, tried in this order:
- toy tasks (`toy.TASKS`): pure JAX, for tests and smoke runs;
- Brax MJX tasks (`brax_mjx.TASKS`), e.g. 'brax_humanoid', 'inverted_pendulum';
- Gymnasium-faithful tasks (`gymnasium_mjx.TASKS`), e.g. 'Humanoid-v5', also reached by the
  paper's lower-case names ('humanoid': `catalog.ALIASES`), on any physics engine
  (`engines`: C MuJoCo on a CPU, MJX on an accelerator);
- MuJoCo Playground's DM Control Suite tasks (`playground.TASKS`), e.g. 'CheetahRun', when the
  `playground` package is installed (its robot tasks are `playground.UNAVAILABLE`, with why).

Importing this package stays cheap: Brax, MuJoCo and the Gymnasium module are imported only when
a task from them is built (or, for the Gymnasium module, when its names are listed).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mjxrsm.envs import catalog

if TYPE_CHECKING:
    from mjxrsm.envs.base import Env, EnvState
    from mjxrsm.envs.wrappers import wrap_for_training

__all__ = ["Env", "EnvState", "available_envs", "canonical_name", "check_env_impl",
           "check_env_kwargs", "check_env_name", "engines_of", "make_env", "wrap_for_training"]

_GYMNASIUM_MODULE = "mjxrsm.envs.gymnasium_mjx"
# Imported on first use: listing and checking names must not import JAX (envs/catalog.py).
_LAZY = {"Env": "base", "EnvState": "base", "wrap_for_training": "wrappers"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _gymnasium_module() -> ModuleType | None:
    """The Gymnasium-faithful task module, or None if it is not installed/importable."""
    try:
        return importlib.import_module(_GYMNASIUM_MODULE)
    except ImportError as e:
        # A missing module is expected; a module that exists but fails to import (e.g. a missing
        # dependency) would otherwise silently hide its tasks, so say so.
        if not (isinstance(e, ModuleNotFoundError) and e.name == _GYMNASIUM_MODULE):
            warnings.warn(f"Gymnasium MJX tasks unavailable: {e!r}", stacklevel=3)
        return None


def _gymnasium_tasks() -> tuple[str, ...]:
    module = _gymnasium_module()
    return tuple(module.TASKS) if module is not None else ()


def _playground_tasks() -> tuple[str, ...]:
    """Playground's tasks if it is installed (found without importing it: that takes seconds)."""
    return catalog.PLAYGROUND_TASKS if importlib.util.find_spec("mujoco_playground") else ()


def available_envs() -> list[str]:
    """All task names `make_env` accepts, in source order (toy, Brax, Gymnasium with its
    lower-case aliases, Playground)."""
    gymnasium = _gymnasium_tasks()
    aliases = [a for a, target in catalog.ALIASES.items() if target in gymnasium]
    return [*catalog.TOY_TASKS, *catalog.BRAX_TASKS, *gymnasium, *aliases, *_playground_tasks()]


def canonical_name(name: str) -> str:
    """The task a name means: an alias (`humanoid`) -> its task (`Humanoid-v5`), else itself."""
    return catalog.ALIASES.get(name, name)


def engines_of(name: str) -> tuple[str, ...]:
    """The physics engines task `name` runs on (`env.impl`; envs/engines)."""
    name = canonical_name(name)
    if name in catalog.TOY_TASKS:
        return catalog.ENGINES["toy"]
    if name in catalog.BRAX_TASKS:
        return catalog.ENGINES["brax"]
    if name in catalog.PLAYGROUND_TASKS:
        return catalog.ENGINES["playground"]
    return catalog.ENGINES["gymnasium"]


def check_env_impl(name: str, impl: str) -> None:
    """Raise ValueError (one line) unless task `name` can run on engine `impl` here."""
    from mjxrsm.envs.engines import check_impl

    check_impl(name, impl, engines_of(name))


def make_env(name: str, impl: str = "auto", nthread: int = 0, **kwargs: Any) -> Env:
    """Builds the raw (unwrapped, unbatched) task `name` on physics engine `impl`; kwargs go to
    the task's constructor. `nthread` is the C engine's thread count (0: the usable cores).

    Wrap the result with `wrap_for_training` before handing it to the trainer.
    """
    from mjxrsm.envs import brax_mjx, playground, toy

    name = canonical_name(name)
    if name in toy.TASKS:
        check_env_impl(name, impl)
        return toy.make(name, **kwargs)
    if name in brax_mjx.TASKS or name in brax_mjx.UNSUPPORTED:
        check_env_impl(name, impl)
        return brax_mjx.make(name, **kwargs)
    module = _gymnasium_module()
    if module is not None and name in module.TASKS:
        check_env_impl(name, impl)
        return module.make(name, impl=impl, nthread=nthread, **kwargs)
    if name in _playground_tasks() or name in playground.UNAVAILABLE:
        check_env_impl(name, impl)
        return playground.make(name, impl="jax" if impl == "auto" else impl, **kwargs)
    check_env_name(name)
    raise AssertionError(f"{name!r} is listed but has no builder")  # pragma: no cover


def check_env_kwargs(name: str, kwargs: Mapping[str, Any]) -> None:
    """Raise ValueError unless every key of `kwargs` is an option of task `name`'s constructor
    (`env.kwargs` in the config); checked before the task is built."""
    check_env_name(name)
    name = canonical_name(name)
    if not kwargs:
        return
    from mjxrsm.envs import brax_mjx, toy
    from mjxrsm.envs.options import check_options

    if name in toy.TASKS:
        check_options(name, toy.task_class(name), kwargs)
    elif name in brax_mjx.TASKS:  # name and backend are set by the adapter
        check_options(name, brax_mjx.task_class(name), kwargs, reserved=("sys", "backend"))
    elif name in catalog.PLAYGROUND_TASKS:  # Playground overrides: checked by Playground itself
        return
    else:
        check_options(name, _gymnasium_module().task_class(name), kwargs,
                      reserved=("impl", "nthread"))


def check_env_name(name: str) -> None:
    """Raise the unknown-env error (valid choices, closest match) unless `name` is a task: the
    one place that says it, for the config, its validation and `make_env` alike."""
    choices = available_envs()
    if name in choices:
        return
    if name in catalog.PLAYGROUND_UNAVAILABLE:
        raise ValueError(f"{name!r} is unavailable: {catalog.PLAYGROUND_UNAVAILABLE[name]}")
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    hint = f" Did you mean {by_lower[close[0]]!r}?" if close else ""
    raise ValueError(f"Unknown env {name!r}.{hint} Valid choices: {', '.join(choices)}")
