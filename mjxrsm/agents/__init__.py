"""Agent registry: algorithm name -> `make_agent(algo_config, obs_size, action_size) -> Agent`."""

from __future__ import annotations

import difflib

from ml_collections import ConfigDict

from mjxrsm.agents import dpmd, sac, sdac
from mjxrsm.agents.base import Agent

ALGORITHMS = {"dpmd": dpmd.make_agent, "sdac": sdac.make_agent, "sac": sac.make_agent}


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    """Build the agent named by `cfg.name`; an unknown name lists the valid ones."""
    if cfg.name not in ALGORITHMS:
        close = difflib.get_close_matches(cfg.name, ALGORITHMS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown algorithm {cfg.name!r}; choose one of {sorted(ALGORITHMS)}.{hint}"
        )
    return ALGORITHMS[cfg.name](cfg, obs_size, action_size)
