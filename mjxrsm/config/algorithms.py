"""The algorithm registry: one algorithm = one agent file plus one config file of the same name.

    mjxrsm/agents/<name>.py   make_agent(algo_config, obs_size, action_size) -> Agent
    configs/algos/<name>.py   get_config() -> ConfigDict (the defaults),
                              RANGES = {algo key: mjxrsm.config.ranges spec} (what each may hold),
                              PRESETS = {preset: {algo key: value}} (its preset adjustments),
                              RUN_PRESETS = {preset: {run key: value}} (run-level values it
                              needs otherwise, e.g. its own num_envs) and COLOR (its matplotlib
                              colour in every plot), all optional

Every other part (the training config, validation, the trainer, the benchmarks and the tests) asks
this module, so adding an algorithm needs no edit anywhere else. Importing it stays cheap: the
config files are plain ml_collections and the agent module is imported only when an agent is
built.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import pkgutil
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ml_collections import ConfigDict

from mjxrsm.config.files import config_module
from mjxrsm.config.ranges import Name, Spec

if TYPE_CHECKING:
    from mjxrsm.agents.base import Agent

CONFIG_PACKAGE = "algos"  # configs/algos/, read by path (config/files.py)
AGENT_PACKAGE = "mjxrsm.agents"


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """What the rest of the system needs to know about one algorithm, read from its two files."""

    name: str
    config_module: ModuleType

    def default_config(self) -> ConfigDict:
        """The algorithm's defaults, named (the name comes from the file, so it is said once)."""
        c = self.config_module.get_config()
        c.name = self.name
        return c

    def preset(self, preset: str) -> Mapping[str, Any]:
        """The algorithm's own adjustments for `preset` (keys relative to the algo config)."""
        return getattr(self.config_module, "PRESETS", {}).get(preset, {})

    def run_preset(self, preset: str) -> Mapping[str, Any]:
        """Run-level values (dotted keys of the training config, e.g. `num_envs`) that this
        algorithm's `preset` sets over the preset's shared ones: a recipe measured best for one
        algorithm need not be imposed on the others."""
        return getattr(self.config_module, "RUN_PRESETS", {}).get(preset, {})

    def ranges(self) -> Mapping[str, Spec] | None:
        """What each of the algorithm's settings may hold (keys relative to the algo config);
        None if its config file has no `RANGES` yet (a test fails for it, validation skips it)."""
        table = getattr(self.config_module, "RANGES", None)
        return None if table is None else {**table, "name": Name("the algorithm registry")}

    @property
    def color(self) -> str | None:
        """The algorithm's plot colour (`COLOR` in its config file), so that every plot and every
        results page shows it in the same colour whatever else is registered."""
        return getattr(self.config_module, "COLOR", None)

    @property
    def agent_module(self) -> ModuleType:
        return importlib.import_module(f"{AGENT_PACKAGE}.{self.name}")

    def make_agent(self, cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
        return self.agent_module.make_agent(cfg, obs_size, action_size)


@functools.cache
def algorithms() -> dict[str, Algorithm]:
    """Every algorithm: each module of configs/algos that defines `get_config`, by file name."""
    package = config_module(CONFIG_PACKAGE)
    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = config_module(f"{CONFIG_PACKAGE}.{info.name}")
        if callable(getattr(module, "get_config", None)):
            found[info.name] = Algorithm(info.name, module)
    return found


def algorithm_names() -> list[str]:
    return list(algorithms())


def get_algorithm(name: str) -> Algorithm:
    """The algorithm `name`; an unknown name lists the valid ones (the one place that says so)."""
    registry = algorithms()
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown algorithm {name!r}; choose one of {sorted(registry)}.{hint}")
    return registry[name]
