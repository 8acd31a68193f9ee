"""DACER's entropy estimate for a policy without a tractable density (docs/ALGORITHMS.md §7):
fit a Gaussian mixture to actions sampled at one state, then take

    H ~= sum_k w_k H(N(mu_k, Sigma_k)) - sum_k w_k log w_k,

the official estimate. It is exact for well-separated components and an upper bound otherwise
(it adds the information the component label carries about the action). The official code fits
scikit-learn's full-covariance mixture on the host through a callback; here the EM runs on the
accelerator, vmapped over states, inside the jitted update.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Mixture(NamedTuple):
    weights: jax.Array  # [K]
    means: jax.Array  # [K, d]
    covs: jax.Array  # [K, d, d]


def _log_gauss(x: jax.Array, mean: jax.Array, cov: jax.Array) -> jax.Array:
    """log N(x; mean, cov) for x [N, d] and one component: [N]."""
    d = x.shape[-1]
    chol = jnp.linalg.cholesky(cov)
    z = jax.scipy.linalg.solve_triangular(chol, (x - mean).T, lower=True)  # [d, N]
    log_det = 2.0 * jnp.log(jnp.diagonal(chol)).sum()
    return -0.5 * (jnp.square(z).sum(0) + log_det + d * math.log(2 * math.pi))


def kmeans_init(x: jax.Array, key: jax.Array, num_components: int, iters: int = 10) -> jax.Array:
    """Initial means: greedy k-means++ seeding (each next centre is the best of a few draws with
    probability ~ squared distance to the nearest chosen one) then Lloyd steps, as scikit-learn
    initialises its mixtures. Random samples alone often seed two means in one mode, and EM
    stays there."""
    trials = 2 + int(math.log(num_components))
    keys = jax.random.split(key, num_components)
    centres = x[jax.random.randint(keys[0], (), 0, x.shape[0])][None]
    for k in keys[1:]:
        d2 = jnp.square(x[:, None] - centres[None]).sum(-1).min(1)  # [N]
        cand = jax.random.categorical(k, jnp.log(d2 + 1e-12), shape=(trials,))
        to_cand = jnp.square(x[:, None] - x[cand][None]).sum(-1)  # [N, trials]
        best = jnp.minimum(d2[:, None], to_cand).sum(0).argmin()
        centres = jnp.concatenate([centres, x[cand[best]][None]])

    def lloyd(_, c: jax.Array) -> jax.Array:
        assign = jax.nn.one_hot(jnp.square(x[:, None] - c[None]).sum(-1).argmin(1),
                                num_components, dtype=x.dtype)  # [N, K]
        counts = assign.sum(0)
        return jnp.where(counts[:, None] > 0, assign.T @ x / jnp.maximum(counts, 1)[:, None], c)

    return jax.lax.fori_loop(0, iters, lloyd, centres)


def fit_gmm(
    x: jax.Array, key: jax.Array, num_components: int = 3, iters: int = 30, reg: float = 1e-6
) -> Mixture:
    """Full-covariance EM on samples x [N, d], from k-means means (`kmeans_init`).

    `reg` is added to every covariance's diagonal (scikit-learn's default `reg_covar`): actions
    clipped to the box can make a component degenerate.
    """
    n, d = x.shape
    eye = jnp.eye(d, dtype=x.dtype)
    centred = x - x.mean(0)
    cov0 = centred.T @ centred / n / num_components + reg * eye
    # Uniform weights built from x so that they vary over devices as x does (a scan carry keeps
    # its type under the trainer's shard_map).
    init = Mixture(jnp.ones_like(x[:num_components, 0]) / num_components,
                   kmeans_init(x, key, num_components),
                   jnp.broadcast_to(cov0, (num_components, d, d)))

    def em(_, m: Mixture) -> Mixture:
        log_p = jax.vmap(_log_gauss, in_axes=(None, 0, 0))(x, m.means, m.covs)  # [K, N]
        log_r = jnp.log(m.weights)[:, None] + log_p
        resp = jax.nn.softmax(log_r, axis=0)  # [K, N]
        nk = resp.sum(1) + 10 * jnp.finfo(x.dtype).eps
        means = resp @ x / nk[:, None]
        diff = x[None] - means[:, None]  # [K, N, d]
        covs = jnp.einsum("kn,kni,knj->kij", resp, diff, diff) / nk[:, None, None] + reg * eye
        return Mixture(nk / n, means, covs)

    return jax.lax.fori_loop(0, iters, em, init)


def mixture_entropy_estimate(m: Mixture) -> jax.Array:
    """sum_k w_k H(component k) + H(w): the official estimate (see the module docstring)."""
    d = m.means.shape[-1]
    _, log_det = jnp.linalg.slogdet(m.covs)
    comp = 0.5 * d * (1.0 + math.log(2 * math.pi)) + 0.5 * log_det
    w = m.weights
    return (w * comp).sum() - (w * jnp.log(jnp.maximum(w, 1e-12))).sum()


def gmm_entropy(
    samples: jax.Array, key: jax.Array, num_components: int = 3, iters: int = 30
) -> jax.Array:
    """Mean over states of the mixture estimate; samples [S, N, d] (N actions per state)."""
    keys = jax.random.split(key, samples.shape[0])
    fits = jax.vmap(lambda x, k: fit_gmm(x, k, num_components, iters))(samples, keys)
    return jax.vmap(mixture_entropy_estimate)(fits).mean()
