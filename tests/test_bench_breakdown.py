"""bench/breakdown.py builds each part of `update` from the library's own functions: every
registered algorithm gets the shared parts, each keeps the agent state's structure, and the
policy and temperature parts report the metrics `update` itself reports (so the bench found the
algorithm's own policy step and entropy estimate, not a stand-in). Traced only, never compiled."""

from __future__ import annotations

import jax
import pytest

from bench.breakdown import random_batch, update_parts
from mjxrsm.agents import make_agent
from mjxrsm.config.algorithms import algorithms

OBS, ACT, BATCH = 3, 2, 8
SHARED = ("td_sampling", "critic_step", "policy_step", "temperature_step")


def small_config(name: str):
    cfg = algorithms()[name].default_config()
    cfg.hidden = (16, 16)
    cfg.batch_size = BATCH
    for key, value in {"num_particles": 2, "diffusion_steps": 3, "num_candidates": 4,
                       "entropy_samples": 4}.items():
        if key in cfg:
            cfg[key] = value
    return cfg


@pytest.mark.parametrize("name", list(algorithms()))
def test_parts_are_the_update_s_own(name):
    cfg = small_config(name)
    agent = make_agent(cfg, OBS, ACT)
    state = agent.init(jax.random.PRNGKey(0))
    batch = random_batch(jax.random.PRNGKey(1), (BATCH,), OBS, ACT)
    key = jax.random.PRNGKey(2)
    parts = update_parts(cfg, state, OBS, ACT)
    assert tuple(parts)[: len(SHARED)] == SHARED

    _, update_metrics = jax.eval_shape(agent.update, state, batch, key)
    want = jax.tree.structure(state)
    for part_name, part in parts.items():
        new_state, out = jax.eval_shape(part, state, batch, key)
        assert jax.tree.structure(new_state) == want, part_name
        if isinstance(out, dict):  # a step's metrics: the same names as in `update`'s
            assert set(out) <= set(update_metrics), (part_name, set(out) - set(update_metrics))
