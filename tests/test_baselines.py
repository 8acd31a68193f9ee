"""The diffusion baselines against things known in closed form: DACER's gradient through the
reverse chain against finite differences, its mixture entropy estimate against analytic
entropies, QSM's critic action-gradient against per-row autodiff, and QSM's fixed point on a
quadratic Q (the learned score matches grad_a Q and Langevin sampling centres on its maximum)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs.algos import dacer as dacer_config
from configs.algos import qsm as qsm_config
from mjxrsm.agents import dacer, qsm
from mjxrsm.agents.diffusion_agent import make_diffusion_policy
from mjxrsm.models import diffusion
from mjxrsm.models.entropy import gmm_entropy


def _init(pol, obs_size, action_size, key):
    obs, act = jnp.zeros((1, obs_size)), jnp.zeros((1, action_size))
    kp, kc = jax.random.split(key)
    return (pol.eps_net.init(kp, obs, act, jnp.zeros((1,), jnp.int32)),
            pol.critic_net.init(kc, obs, act))


def test_dacer_gradient_through_the_reverse_chain_matches_finite_differences():
    with jax.enable_x64(True):
        c = dacer_config.get_config()
        c.hidden, c.diffusion_steps = (16, 16), 4
        c.clip_x0, c.init_noise_scale = False, 0.2  # smooth: no clip kinks for the differences
        pol = make_diffusion_policy(c, 3, 2)
        params, critic = _init(pol, 3, 2, jax.random.PRNGKey(0))
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        critic = jax.tree.map(lambda p: p.astype(jnp.float64), critic)
        obs = jax.random.normal(jax.random.PRNGKey(1), (8, 3), jnp.float64)
        key = jax.random.PRNGKey(2)  # the same reparameterised noise on both sides

        @jax.jit
        def loss(p):
            return dacer.dacer_policy_loss(pol, p, critic, obs, key)

        grad = jax.grad(loss)(params)
        eps = 1e-5
        assert float(optax.global_norm(grad)) > 1e-4  # the chain passes a gradient at all
        for seed in range(3):
            leaves, treedef = jax.tree.flatten(params)
            keys = jax.random.split(jax.random.PRNGKey(10 + seed), len(leaves))
            v = treedef.unflatten([jax.random.normal(k, x.shape, x.dtype)
                                   for k, x in zip(keys, leaves, strict=True)])
            plus = jax.tree.map(lambda p, d: p + eps * d, params, v)
            minus = jax.tree.map(lambda p, d: p - eps * d, params, v)
            fd = (loss(plus) - loss(minus)) / (2 * eps)
            analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grad),
                                                           jax.tree.leaves(v), strict=True))
            np.testing.assert_allclose(float(analytic), float(fd), rtol=1e-5, atol=1e-8)


def _entropy_of_gaussian(cov: np.ndarray) -> float:
    d = cov.shape[0]
    return 0.5 * d * (1 + math.log(2 * math.pi)) + 0.5 * math.log(np.linalg.det(cov))


def test_mixture_entropy_is_exact_for_separated_modes_and_bounded_for_one_gaussian():
    key = jax.random.PRNGKey(0)
    means = jnp.array([[-0.6, 0.0], [0.0, 0.6], [0.6, -0.3]])
    w, sd = np.array([0.5, 0.3, 0.2]), 0.05
    k1, k2 = jax.random.split(key)
    label = jax.random.choice(k1, 3, (4, 600), p=jnp.asarray(w))
    x = means[label] + sd * jax.random.normal(k2, (4, 600, 2))
    exact = _entropy_of_gaussian(sd**2 * np.eye(2)) - (w * np.log(w)).sum()
    assert abs(float(gmm_entropy(x, key)) - exact) < 0.05

    cov = np.array([[0.04, 0.01], [0.01, 0.02]])
    y = jax.random.multivariate_normal(key, jnp.zeros(2), jnp.asarray(cov), (4, 400))
    true = _entropy_of_gaussian(cov)
    est = float(gmm_entropy(y, key))
    # Splitting one Gaussian into components over-counts by at most the label's entropy.
    assert true - 0.05 < est < true + math.log(3)


def test_qsm_target_is_each_rows_gradient_of_the_smaller_critic():
    c = qsm_config.get_config()
    c.hidden = (16, 16)
    pol = make_diffusion_policy(c, 3, 2)
    _, critic = _init(pol, 3, 2, jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (6, 3))
    act = jax.random.uniform(jax.random.PRNGKey(2), (6, 2), minval=-1, maxval=1)
    q_min, g = jax.jit(lambda o, a: qsm.min_critic_action_grad(pol, critic, o, a))(obs, act)

    @jax.jit
    def row(o, a):  # one row alone: every critic's value and action gradient
        q_fn = lambda a: pol.critic_net.apply(critic, o[None], a[None])[:, 0]  # noqa: E731
        return q_fn(a), jax.jacrev(q_fn)(a)

    for b in range(6):
        qs, jac = row(obs[b], act[b])
        j = int(jnp.argmin(qs))
        np.testing.assert_allclose(np.asarray(g[b]), np.asarray(jac[j]), rtol=1e-5, atol=1e-6)
        assert float(q_min[b]) == pytest.approx(float(qs.min()))


def test_qsm_fixed_point_on_a_quadratic_q():
    """Q(s, a) = -|a - m(s)|^2 / (2 sigma^2): the QSM loss drives the score network to
    grad_a Q = -(a - m(s)) / sigma^2, and Langevin sampling with it centres on m(s)."""
    c = qsm_config.get_config()
    c.hidden = (64, 64)
    pol = make_diffusion_policy(c, 1, 2)
    params, _ = _init(pol, 1, 2, jax.random.PRNGKey(0))
    sigma = 0.25

    def m(s):
        return 0.3 * jnp.tanh(s) * jnp.array([1.0, -1.0])

    def grad_q(s, a):
        return -(a - m(s)) / sigma**2

    def draw(k):
        ks, ka = jax.random.split(k)
        s = jax.random.normal(ks, (256, 1))
        return s, jax.random.uniform(ka, (256, 2), minval=-1, maxval=1)

    opt = optax.adam(1e-3)

    @jax.jit
    def train(params, opt_state, k):
        s, a = draw(k)
        loss, g = jax.value_and_grad(qsm.qsm_loss, argnums=1)(pol, params, s, a, grad_q(s, a))
        updates, opt_state = opt.update(g, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    opt_state = opt.init(params)
    for i in range(1500):
        k = jax.random.fold_in(jax.random.PRNGKey(1), i)
        params, opt_state, _ = train(params, opt_state, k)

    s, a = draw(jax.random.PRNGKey(99))  # held-out pairs
    err = qsm.score(pol, params, s, a) - grad_q(s, a)
    assert float(jnp.sqrt(jnp.square(err).mean() / jnp.square(grad_q(s, a)).mean())) < 0.05

    obs = jnp.full((2000, 1), 0.7)
    learned = pol.sample(params, obs, jax.random.PRNGKey(5))
    exact = diffusion.langevin_sample(lambda x: grad_q(obs, x), jax.random.PRNGKey(5), (2000, 2),
                                      c.diffusion_steps)
    np.testing.assert_allclose(np.asarray(learned.mean(0)), np.asarray(m(obs[0])), atol=0.03)
    np.testing.assert_allclose(np.asarray(learned.mean(0)), np.asarray(exact.mean(0)), atol=0.02)
    np.testing.assert_allclose(np.asarray(learned.std(0)), np.asarray(exact.std(0)), rtol=0.1)
