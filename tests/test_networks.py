"""Networks: shapes, the vmapped critic ensemble, the mish activation and the tanh-Gaussian
log-density."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mjxrsm.models.networks import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Critic,
    CriticEnsemble,
    GaussianPolicy,
    NoisePredictor,
    mish,
    sinusoidal_embedding,
    tanh_gaussian_sample,
)

B, OBS, ACT = 7, 5, 3
RNG = np.random.default_rng(0)
OBS_X = jnp.asarray(RNG.normal(size=(B, OBS)), jnp.float32)
ACT_X = jnp.asarray(np.tanh(RNG.normal(size=(B, ACT))), jnp.float32)


def test_sinusoidal_embedding_values():
    t = jnp.array([0, 1, 7, 19])
    emb = np.asarray(sinusoidal_embedding(t, 16))
    freqs = 10000.0 ** (-np.arange(8) / 8)
    args = np.array([0, 1, 7, 19])[:, None] * freqs
    np.testing.assert_allclose(emb, np.concatenate([np.sin(args), np.cos(args)], -1) / 4.0,
                               rtol=1e-5, atol=1e-6)


def test_noise_predictor_shapes_and_time_dependence():
    net = NoisePredictor(ACT, OBS, (32, 32))
    t = jnp.arange(B, dtype=jnp.int32)
    params = jax.jit(net.init)(jax.random.PRNGKey(0), OBS_X, ACT_X, t)
    apply = jax.jit(net.apply)
    out = apply(params, OBS_X, ACT_X, t)
    assert out.shape == (B, ACT)
    assert bool(jnp.all(jnp.isfinite(out)))
    # The output depends on t, on the noisy action and on the state.
    assert not np.allclose(out, apply(params, OBS_X, ACT_X, t + 1))
    assert not np.allclose(out, apply(params, OBS_X, -ACT_X, t))
    assert not np.allclose(out, apply(params, OBS_X + 1.0, ACT_X, t))


def test_noise_predictor_split_first_layer_matches_the_concat_layer():
    """W_s s + b + W_a a + W_t emb == one Dense on concat(s, a, emb), initialised with the concat
    layer's fan-in; condition/denoise == __call__; a scalar t == that t on every row."""
    wide = 256
    net = NoisePredictor(ACT, OBS, (wide, 32))
    t = jnp.full((B,), 7, jnp.int32)
    params = jax.jit(net.init)(jax.random.PRNGKey(3), OBS_X, ACT_X, t)
    p = params["params"]
    kernel = np.concatenate([p["in_obs"]["kernel"], p["in_action"]["kernel"],
                             p["in_time"]["kernel"]], axis=0)
    total = OBS + ACT + 16
    assert kernel.shape == (total, wide)
    assert np.std(kernel) == pytest.approx(total**-0.5, rel=0.05)
    for name in ("in_obs", "in_action", "in_time"):  # each block alone has the same scale
        assert np.std(p[name]["kernel"]) == pytest.approx(total**-0.5, rel=0.2)

    emb = net.apply(params, sinusoidal_embedding(t, 16), method=lambda m, e: m.time_mlp(e))
    h = jnp.concatenate([OBS_X, ACT_X, emb], -1) @ kernel + p["in_obs"]["bias"]
    by_hand = net.apply(params, mish(h), method=lambda m, x: m.trunk(x))
    full = net.apply(params, OBS_X, ACT_X, t)
    np.testing.assert_allclose(full, by_hand, rtol=1e-4, atol=1e-5)
    cond = net.apply(params, OBS_X, method="condition")
    split = net.apply(params, cond, ACT_X, t, method="denoise")
    scalar_t = net.apply(params, cond, ACT_X, jnp.int32(7), method="denoise")
    np.testing.assert_allclose(split, full, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scalar_t, full, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="obs of size"):
        net.apply(params, OBS_X[:, :-1], ACT_X, t)


@pytest.mark.parametrize("k", [1, 3])
def test_critic_ensemble_leading_axis_and_distinct_members(k):
    ens = CriticEnsemble(k, (16, 16))
    params = jax.jit(ens.init)(jax.random.PRNGKey(1), OBS_X, ACT_X)
    for leaf in jax.tree.leaves(params):
        assert leaf.shape[0] == k
    q = np.asarray(jax.jit(ens.apply)(params, OBS_X, ACT_X))
    assert q.shape == (k, B)
    for i in range(k):
        for j in range(i):
            assert not np.allclose(q[i], q[j])  # independently initialised members
    # Member i is exactly a standalone Critic with the i-th slice of the parameters.
    single = jax.jit(Critic((16, 16)).apply)
    (member,) = params["params"].values()  # the vmapped Critic's parameters, leading axis K
    for i in range(k):
        p_i = {"params": jax.tree.map(lambda x, i=i: x[i], member)}
        np.testing.assert_allclose(single(p_i, OBS_X, ACT_X), q[i], rtol=1e-5, atol=1e-6)


def test_gaussian_policy_shapes_and_log_std_clip():
    net = GaussianPolicy(ACT, (16, 16))
    params = jax.jit(net.init)(jax.random.PRNGKey(2), OBS_X)
    apply = jax.jit(net.apply)
    mean, log_std = apply(params, OBS_X)
    assert mean.shape == log_std.shape == (B, ACT)
    big = jax.tree.map(lambda x: 1e3 * x, params)
    _, log_std_big = apply(big, OBS_X * 10)
    assert float(log_std_big.max()) <= LOG_STD_MAX and float(log_std_big.min()) >= LOG_STD_MIN
    assert float(log_std_big.max()) == LOG_STD_MAX or float(log_std_big.min()) == LOG_STD_MIN


_sample = jax.jit(tanh_gaussian_sample)


def _tanh_gaussian_logpdf(a: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Reference density of a = tanh(u), u ~ N(mean, std^2), by change of variables (float64)."""
    u = np.arctanh(a)
    log_n = -0.5 * ((u - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
    return log_n - np.log1p(-(a**2))


@pytest.mark.parametrize("mean,std", [(0.3, 0.5), (-0.4, 1.0)])
def test_tanh_gaussian_log_prob_is_a_normalised_density(mean, std):
    """In 1-D: the returned log-density (i) equals the change-of-variables density including the
    tanh Jacobian, (ii) integrates to 1 over (-1, 1), (iii) matches the samples' histogram."""
    n = 200_000
    a, logp = _sample(jnp.full((n, 1), mean), jnp.full((n, 1), math.log(std)),
                      jax.random.PRNGKey(3))
    a, logp = np.asarray(a[:, 0], np.float64), np.asarray(logp, np.float64)
    assert logp.shape == (n,)
    assert np.all(np.abs(a) <= 1.0)

    inner = np.abs(a) < 0.999  # arctanh of a float32 sample is accurate away from +-1
    np.testing.assert_allclose(logp[inner], _tanh_gaussian_logpdf(a[inner], mean, std),
                               rtol=2e-3, atol=2e-3)

    order = np.argsort(a)
    integral = np.trapezoid(np.exp(logp[order]), a[order])
    print(f"tanh-Gaussian N({mean}, {std}^2): integral of exp(log_prob) over samples' range "
          f"{integral:.4f}")
    assert abs(integral - 1.0) < 0.01
    # Without the tanh correction the same integral is E[1 - tanh(u)^2] < 1: clearly detectable.
    assert abs(np.trapezoid(np.exp(logp[order] + np.log1p(-a[order] ** 2)), a[order]) - 1) > 0.1

    # Histogram of the samples vs the bin masses of that (checked) density: within Poisson noise.
    edges = np.linspace(-0.99, 0.99, 41)
    counts, _ = np.histogram(a, edges)
    sub = np.linspace(edges[:-1], edges[1:], 33)  # [33, bins] points per bin
    mass = np.trapezoid(np.exp(_tanh_gaussian_logpdf(sub, mean, std)), sub, axis=0)
    assert np.all(np.abs(counts - n * mass) < 5.0 * np.sqrt(n * mass) + 5.0)


def test_tanh_gaussian_log_prob_sums_dims_and_is_stable_for_large_u():
    mean = jnp.array([[0.0, 3.0, -6.0]] * 4096)
    log_std = jnp.log(jnp.array([[0.5, 2.0, 1.0]] * 4096))
    a, logp = _sample(mean, log_std, jax.random.PRNGKey(4))
    assert a.shape == (4096, 3) and logp.shape == (4096,)
    assert bool(jnp.all(jnp.isfinite(logp)))
    # Recompute from the same noise draw in float64, stable log(1 - tanh^2) = log(sech^2 u).
    z = np.asarray(jax.random.normal(jax.random.PRNGKey(4), mean.shape), np.float64)
    std = np.exp(np.asarray(log_std, np.float64))
    u = np.asarray(mean, np.float64) + std * z
    log_sech2 = 2.0 * (math.log(2.0) - np.abs(u) - np.log1p(np.exp(-2.0 * np.abs(u))))
    ref = (-0.5 * z**2 - np.log(std) - 0.5 * math.log(2 * math.pi) - log_sech2).sum(-1)
    np.testing.assert_allclose(np.asarray(logp), ref, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(a), np.tanh(u), atol=1e-6)


def test_mish_matches_reference_and_has_finite_gradients():
    """networks.mish (one-exp form) equals x tanh(softplus(x)) (float64 reference) to float32
    precision over [-30, 30] and beyond the x > 20 switch; its gradient is finite everywhere."""
    x = np.linspace(-30.0, 30.0, 60_001)
    ref = x * np.tanh(np.log1p(np.exp(x)))
    got = np.asarray(jax.jit(mish)(jnp.asarray(x, jnp.float32)), np.float64)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=3e-6)
    np.testing.assert_allclose(got, np.asarray(jax.nn.mish(jnp.asarray(x, jnp.float32))),
                               rtol=1e-5, atol=3e-6)
    big = jnp.array([25.0, 100.0, 1e4], jnp.float32)
    np.testing.assert_allclose(mish(big), big, rtol=1e-7)
    g = jax.jit(jax.vmap(jax.grad(mish)))(jnp.asarray(np.r_[x, 1e4, -1e4], jnp.float32))
    assert bool(jnp.all(jnp.isfinite(g)))
    g_ref = jax.vmap(jax.grad(jax.nn.mish))(jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(g[: x.size], g_ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        NoisePredictor(1, 1, (4,), activation="swish").init(
            jax.random.PRNGKey(0), jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.zeros((1,), int)
        )


def test_critic_with_n_actions_per_state_matches_repeated_states():
    """Actions [B*N] against obs [B]: the state's share of the first layer is computed once per
    state; same parameters (tree, init), same Q and gradients to float32 rounding."""
    b, n, o, a = 6, 4, 30, 5
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    obs = jax.random.normal(k[0], (b, o))
    act = jax.random.uniform(k[1], (b * n, a), minval=-1.0, maxval=1.0)
    net = CriticEnsemble(num_critics=2, hidden=(32, 32))
    params = net.init(k[2], obs[:1], act[:1])
    shared_init = net.init(k[2], obs, act)  # initialised through the shared-input path
    assert jax.tree.structure(shared_init) == jax.tree.structure(params)
    for x, y in zip(jax.tree.leaves(shared_init), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(x, y)
    obs_rep = jnp.repeat(obs, n, axis=0)
    np.testing.assert_allclose(net.apply(params, obs, act), net.apply(params, obs_rep, act),
                               rtol=1e-5, atol=1e-5)
    loss = lambda p, s: jnp.square(net.apply(p, s, act)).mean()  # noqa: E731
    g_shared, g_rep = jax.grad(loss)(params, obs), jax.grad(loss)(params, obs_rep)
    for x, y in zip(jax.tree.leaves(g_shared), jax.tree.leaves(g_rep), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="not N per state"):
        net.apply(params, obs, act[:-1])
