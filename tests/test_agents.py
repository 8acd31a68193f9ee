"""Agents built from the real algorithm configs (shrunk): acting, one/two updates, and the
bookkeeping of delays, Polyak targets, the temperature schedule and DPMD's double critic step."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mjxrsm.agents import make_agent
from mjxrsm.config.algorithms import algorithms
from mjxrsm.core.replay import Transition

OBS, ACT, BATCH, N_ACT = 3, 2, 16, 5
CONFIGS = {name: a.default_config for name, a in algorithms().items()}
DIFFUSION = ("dpmd", "sdac")


def small_config(name: str, **overrides):
    cfg = CONFIGS[name]()
    cfg.hidden = (32, 32)
    cfg.batch_size = BATCH
    # Small sampler sizes wherever the algorithm has them (no branching on names).
    for key, value in {"num_particles": 4, "diffusion_steps": 5, "num_candidates": 8}.items():
        if key in cfg:
            cfg[key] = value
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def random_batch(seed: int = 0) -> Transition:
    rng = np.random.default_rng(seed)
    f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
    return Transition(
        obs=f(BATCH, OBS),
        action=jnp.clip(f(BATCH, ACT), -1, 1),
        reward=f(BATCH),
        next_obs=f(BATCH, OBS),
        done=jnp.asarray(rng.random(BATCH) < 0.2, jnp.float32),
    )


def built(name: str, double_critic_step: bool | None = None):
    """(agent, jitted update, initial state); cached so every test reuses one compile."""
    if double_critic_step is None:
        double_critic_step = bool(small_config(name).get("double_critic_step", False))
    return _built(name, double_critic_step)


@functools.cache
def _built(name: str, double_critic_step: bool):
    overrides = {"double_critic_step": double_critic_step} if name in DIFFUSION else {}
    agent = make_agent(small_config(name, **overrides), OBS, ACT)
    return agent, jax.jit(agent.update), agent.init(jax.random.PRNGKey(0))


def tree_equal(a, b) -> bool:
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b),
                                                           strict=True))


def test_unknown_algorithm_lists_choices():
    cfg = small_config("dpmd")
    cfg.name = "dpmdd"
    with pytest.raises(ValueError, match="dpmd"):
        make_agent(cfg, OBS, ACT)


@pytest.mark.parametrize("name", ["dpmd", "sdac", "sac"])
def test_act_shapes_and_box(name):
    agent, _, state = built(name)
    obs = jnp.asarray(np.random.default_rng(1).normal(size=(N_ACT, OBS)), jnp.float32)
    both = jax.jit(lambda s, o, k: (agent.act(s, o, k, deterministic=True),
                                    agent.act(s, o, k, deterministic=False)))
    det, sto = both(state, obs, jax.random.PRNGKey(1))
    assert det.shape == sto.shape == (N_ACT, ACT)
    assert bool(jnp.all(jnp.isfinite(sto)))
    assert bool(jnp.all(jnp.abs(det) <= 1.0))
    if name == "sac":
        assert bool(jnp.all(jnp.abs(sto) <= 1.0))


@pytest.mark.parametrize("name", ["dpmd", "sdac", "sac"])
def test_update_runs_and_respects_policy_delay(name):
    agent, update, s0 = built(name)
    cfg = small_config(name)
    s1, m1 = update(s0, random_batch(1), jax.random.PRNGKey(1))
    s2, m2 = update(s1, random_batch(2), jax.random.PRNGKey(2))
    for metrics in (m1, m2):
        assert metrics, "update returned no metrics"
        for k, v in metrics.items():
            assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(v)), k
    assert int(s1.step) == 1 and int(s2.step) == 2
    # Critics move on every step.
    assert not tree_equal(s1.critic, s0.critic)
    assert not tree_equal(s2.critic, s1.critic)
    # Policy: step 0 always updates; step 1 only when policy_delay == 1.
    assert not tree_equal(s1.policy, s0.policy)
    assert cfg.policy_delay == (2 if name in DIFFUSION else 1)
    if cfg.policy_delay > 1:
        assert tree_equal(s2.policy, s1.policy)
        assert float(m2["policy/loss"].weight) == 0.0 and float(m1["policy/loss"].weight) == 1.0
        # ... and the optimiser count advances only on applied steps (lr schedule in policy steps).
        assert tree_equal(s2.policy_opt, s1.policy_opt)
    else:
        assert not tree_equal(s2.policy, s1.policy)


@pytest.mark.parametrize("name", ["dpmd", "sdac", "sac"])
def test_polyak_targets_move_by_tau_on_target_steps(name):
    _, update, s0 = built(name)
    cfg = small_config(name)
    every = cfg.target_update_every
    states = [s0]
    for i in range(2 * every + 1):
        states.append(update(states[-1], random_batch(10 + i), jax.random.PRNGKey(10 + i))[0])
    pairs = [("critic", "target_critic")] + ([("policy", "target_policy")]
                                             if name in DIFFUSION else [])
    for i in range(1, len(states)):
        prev, cur = states[i - 1], states[i]
        step = int(prev.step)
        for online, target in pairs:
            if step % every == 0:
                expect = jax.tree.map(lambda t, o: t + cfg.tau * (o - t),
                                      getattr(prev, target), getattr(cur, online))
                for e, g in zip(jax.tree.leaves(expect), jax.tree.leaves(getattr(cur, target)),
                                strict=True):
                    np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8)
                assert not tree_equal(getattr(cur, target), getattr(prev, target))
            else:
                assert tree_equal(getattr(cur, target), getattr(prev, target)), (step, target)
    # After a few steps online and target really differ, so the check above was not vacuous.
    assert not tree_equal(states[-1].critic, states[-1].target_critic)


@pytest.mark.parametrize("name", ["dpmd", "sdac"])
def test_alpha_updates_only_every_alpha_update_every(name):
    _, update, s0 = built(name)
    every = small_config(name).alpha_update_every
    assert every > 2
    batch, key = random_batch(3), jax.random.PRNGKey(3)
    for step, expect_change in [(0, True), (1, False), (every - 1, False), (every, True),
                                (every + 1, False), (3 * every, True)]:
        s = s0.replace(step=jnp.asarray(step, jnp.int32))
        s1, metrics = update(s, batch, key)
        changed = float(s1.log_alpha) != float(s.log_alpha)
        assert changed == expect_change, step
        assert float(metrics["alpha"]) == pytest.approx(float(jnp.exp(s.log_alpha)))


def test_sac_alpha_moves_every_step():
    _, update, s0 = built("sac")
    s1, _ = update(s0, random_batch(4), jax.random.PRNGKey(4))
    s2, _ = update(s1, random_batch(5), jax.random.PRNGKey(5))
    assert float(s1.log_alpha) != float(s0.log_alpha) != float(s2.log_alpha)


def test_dpmd_double_critic_step_is_a_second_identical_adam_step():
    """Same state, batch and key: the double step differs from the single one, and since Adam's
    first two steps with the same gradient are identical (bias-corrected m = g, v = g^2), the
    double step moves every critic parameter exactly twice as far."""
    _, upd_double, s0 = built("dpmd", True)
    _, upd_single, s0_single = built("dpmd", False)
    assert tree_equal(s0.critic, s0_single.critic)  # same init key, same architecture
    batch, key = random_batch(6), jax.random.PRNGKey(6)
    d, _ = upd_double(s0, batch, key)
    s, _ = upd_single(s0, batch, key)
    assert not tree_equal(d.critic, s.critic)
    for c0, cd, cs in zip(jax.tree.leaves(s0.critic), jax.tree.leaves(d.critic),
                          jax.tree.leaves(s.critic), strict=True):
        np.testing.assert_allclose(cd - c0, 2.0 * (cs - c0), rtol=1e-4, atol=1e-7)
    # The policy step uses the critic after the *first* step only: identical in both variants.
    assert tree_equal(d.policy, s.policy)
    assert int(d.critic_opt[0].count) == 2 and int(s.critic_opt[0].count) == 1


def test_best_of_n_keeps_the_top_particle_and_the_td_metrics_split_q_spread():
    """The TD target's best-of-N returns the particle with the largest min-Q; the update logs
    how much Q varies within a state's particles and between states (the diagnosis of what
    DPMD's weights act on, docs/experiments/)."""
    from mjxrsm.agents.diffusion_agent import make_diffusion_policy

    cfg = small_config("dpmd")
    _, update, s0 = built("dpmd")
    pol = make_diffusion_policy(cfg, OBS, ACT)
    obs, key = random_batch(7).next_obs, jax.random.PRNGKey(7)
    a, _, q = pol.best_of_n_with_particles(s0.policy, s0.critic, obs, key, cfg.num_particles)
    assert a.shape == (BATCH, ACT) and q.shape == (BATCH, cfg.num_particles)
    np.testing.assert_allclose(pol.q_min(s0.critic, obs, a), q.max(-1), rtol=1e-5, atol=1e-6)
    assert tree_equal(a, pol.best_of_n(s0.policy, s0.critic, obs, key, cfg.num_particles))
    from mjxrsm.agents.diffusion_agent import next_action

    m = next_action(cfg, pol, s0, obs, jnp.float32(1.0), key, jax.random.PRNGKey(8)).metrics
    np.testing.assert_allclose(m["particles/q_std_within_state"], q.std(-1).mean(), rtol=1e-5)
    np.testing.assert_allclose(m["particles/q_std_across_states"], q.mean(-1).std(), rtol=1e-5)
    _, logged = update(s0, random_batch(7), key)  # and the update logs both
    assert {"particles/q_std_within_state", "particles/q_std_across_states"} <= set(logged)


def test_dpmd_particles_mode_fits_every_particle_with_per_state_weights():
    """`policy_samples=particles`: the policy step's loss is the weighted DSM on all N particles
    of the TD target's best-of-N, each state's weights standardised within it (rsm), with the
    same key; the official mode fits the one noisy a' per state."""
    from mjxrsm.agents import dpmd
    from mjxrsm.agents.diffusion_agent import (
        StepContext,
        make_diffusion_policy,
        make_optimizers,
        next_action,
    )
    from mjxrsm.models import rsm

    cfg = small_config("dpmd", policy_samples="particles")
    agent = make_agent(cfg, OBS, ACT)
    s0 = agent.init(jax.random.PRNGKey(0))
    pol, opts = make_diffusion_policy(cfg, OBS, ACT), make_optimizers(cfg)
    batch, key = random_batch(3), jax.random.PRNGKey(3)
    nxt = next_action(cfg, pol, s0, batch.next_obs, jnp.float32(1.0), key, key)
    ctx = StepContext(jnp.float32(1.0), nxt.action, s0.critic, s0.critic, nxt.particles, nxt.q)
    _, _, _, m = dpmd.policy_step(cfg, pol, opts, s0, batch, ctx, jnp.bool_(True), key)
    n = cfg.num_particles
    w, _ = rsm.per_state_weights(nxt.q, 1.0, clip=cfg.q_clip)
    obs = jnp.repeat(batch.next_obs, n, axis=0)
    want = rsm.dpmd_loss(pol.eps_fn(s0.policy, obs), pol.schedule,
                         nxt.particles.reshape(BATCH * n, ACT), w.reshape(-1), key)
    np.testing.assert_allclose(m["policy/loss"].value, want, rtol=1e-5)
    official = dpmd.SAMPLES["td_next"](cfg, s0, batch, ctx, pol.q_min(s0.critic, batch.next_obs,
                                                                          nxt.action))
    assert official.actions.shape == (BATCH, ACT) and official.obs.shape == (BATCH, OBS)
    state, metrics = jax.jit(agent.update)(s0, batch, key)  # and the whole update runs
    assert all(bool(jnp.isfinite(v)) for v in jax.tree.leaves(metrics))
    assert float(metrics["dpmd/w_min"].value) > 0 and not tree_equal(state.policy, s0.policy)
