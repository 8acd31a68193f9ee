"""Agents: `make_agent(algo_config, obs_size, action_size) -> Agent` for any registered algorithm
(mjxrsm/config/algorithms.py finds them; each lives in `mjxrsm/agents/<name>.py`)."""

from __future__ import annotations

from ml_collections import ConfigDict

from mjxrsm.agents.base import Agent
from mjxrsm.config.algorithms import get_algorithm


def make_agent(cfg: ConfigDict, obs_size: int, action_size: int) -> Agent:
    """Build the agent named by `cfg.name`; an unknown name lists the valid ones."""
    return get_algorithm(cfg.name).make_agent(cfg, obs_size, action_size)
