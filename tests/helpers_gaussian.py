"""Closed-form / quadrature reference denoisers and a tiny jitted training loop for the tests that
check the optimum of the RSM losses (tests/test_rsm.py) and the samplers (tests/test_diffusion.py).

All references are written from the definitions (docs/ALGORITHMS.md §1, §4.1), not from library
code: for a 1-D target p_0 and the forward kernel q_t(a_t | a_0) = N(sqrt(ab_t) a_0, 1 - ab_t), the
optimal noise predictor is E[eps | a_t] with eps = (a_t - sqrt(ab_t) a_0) / sqrt(1 - ab_t) and
a_0 ~ p(a_0 | a_t) ∝ p_0(a_0) q_t(a_t | a_0).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jax.scipy.stats import norm

from mjxrsm.models.networks import NoisePredictor


def gaussian_denoiser_values(alpha_bar, mu, sd, a_t: jax.Array, t: jax.Array) -> jax.Array:
    """E[eps | a_t, t] for p_0 = N(mu, sd^2) (per dimension; mu, sd broadcast over the last axis):
    sqrt(1 - ab) (a_t - sqrt(ab) mu) / (ab sd^2 + 1 - ab)."""
    ab = jnp.asarray(alpha_bar)[t]
    ab = ab.reshape(ab.shape + (1,) * (a_t.ndim - ab.ndim))
    return jnp.sqrt(1.0 - ab) * (a_t - jnp.sqrt(ab) * mu) / (ab * jnp.square(sd) + 1.0 - ab)


def gaussian_denoiser(alpha_bar, mu, sd) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The closed-form optimal denoiser as an `eps_fn(a_t [B, d], t [B])` for the samplers."""
    return lambda a_t, t: gaussian_denoiser_values(alpha_bar, mu, sd, a_t, t)


def gaussian_marginal_density(alpha_bar, mu, sd, a_t: jax.Array, t: jax.Array) -> jax.Array:
    """p_t(a_t) for p_0 = N(mu, sd^2) in 1-D: N(a_t; sqrt(ab) mu, ab sd^2 + 1 - ab)."""
    ab = jnp.asarray(alpha_bar)[t]
    return norm.pdf(a_t, jnp.sqrt(ab) * mu, jnp.sqrt(ab * sd**2 + 1.0 - ab))


def tilted_gaussian(mu0: float, s0: float, c: float, a_star: float, lam: float):
    """N(mu0, s0^2) * exp(-c (a - a_star)^2 / lam) normalised = N(mu1, s1^2): precisions add."""
    prec = 1.0 / s0**2 + 2.0 * c / lam
    mu1 = (mu0 / s0**2 + 2.0 * c * a_star / lam) / prec
    return mu1, prec**-0.5


def quadrature_denoiser(
    alpha_bar, log_p0: Callable[[jax.Array], jax.Array], a_t: jax.Array, t: jax.Array,
    grid: jax.Array,
) -> jax.Array:
    """E[eps | a_t, t] for an unnormalised 1-D log-density log_p0, by quadrature over `grid`
    (uniform; the spacing must resolve the kernel width sqrt((1 - ab)/ab) at the smallest t).
    a_t, t: [N] -> [N]."""
    ab = jnp.asarray(alpha_bar)[t][:, None]
    eps = (a_t[:, None] - jnp.sqrt(ab) * grid[None]) / jnp.sqrt(1.0 - ab)
    logw = log_p0(grid)[None] - 0.5 * jnp.square(eps)
    return jnp.sum(jax.nn.softmax(logw, axis=-1) * eps, axis=-1)


def uniform_proposal_density(alpha_bar, a_t: jax.Array, t: jax.Array) -> jax.Array:
    """Density of a_t = sqrt(ab) U + sqrt(1 - ab) eps with U ~ Uniform[-1, 1] (SDAC's proposal h_t
    in the tests)."""
    ab = jnp.asarray(alpha_bar)[t]
    r, s = jnp.sqrt(ab), jnp.sqrt(1.0 - ab)
    return (norm.cdf((a_t + r) / s) - norm.cdf((a_t - r) / s)) / (2.0 * r)


def weighted_rel_err(pred: jax.Array, ref: jax.Array, w: jax.Array) -> float:
    """sqrt(sum w (pred - ref)^2 / sum w ref^2)."""
    return float(jnp.sqrt(jnp.sum(w * jnp.square(pred - ref)) / jnp.sum(w * jnp.square(ref))))


def weighted_rms(x: jax.Array, y: jax.Array, w: jax.Array) -> float:
    return float(jnp.sqrt(jnp.sum(w * jnp.square(x - y)) / jnp.sum(w)))


# ---------------------------------------------------------------------------------------------
# A state-independent noise predictor (the library's NoisePredictor fed a constant dummy obs).

HIDDEN = (64, 64)


def tiny_net(action_size: int = 1) -> NoisePredictor:
    return NoisePredictor(action_size, 1, HIDDEN)


def apply_net(net: NoisePredictor, params, a_t: jax.Array, t: jax.Array) -> jax.Array:
    """eps_theta(dummy obs = 0, a_t [B, d], t [B])."""
    return net.apply(params, jnp.zeros(a_t.shape[:-1] + (1,), a_t.dtype), a_t, t)


def train_denoiser(
    net: NoisePredictor,
    loss_fn: Callable[[Callable[[jax.Array, jax.Array], jax.Array], jax.Array], jax.Array],
    key: jax.Array,
    *,
    steps: int,
    lr: float,
):
    """Adam with cosine decay on `loss_fn(eps_fn, key)`; the whole loop is one jitted lax.scan.

    `loss_fn` draws its own batch from `key` and calls the library loss with `eps_fn`.
    """
    k_init, k_train = jax.random.split(key)
    a0 = jnp.zeros((1, net.action_size))
    params = jax.jit(net.init)(k_init, jnp.zeros((1, 1)), a0, jnp.zeros((1,), jnp.int32))
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.01))

    @jax.jit
    def run(params, k):
        def body(carry, k_step):
            p, opt = carry
            loss, grads = jax.value_and_grad(
                lambda q: loss_fn(lambda a_t, t: apply_net(net, q, a_t, t), k_step)
            )(p)
            updates, opt = tx.update(grads, opt, p)
            return (optax.apply_updates(p, updates), opt), loss

        (p, _), losses = jax.lax.scan(body, (params, tx.init(params)), jax.random.split(k, steps))
        return p, losses

    return run(params, k_train)
