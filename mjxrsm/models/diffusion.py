"""Discrete-time Gaussian diffusion over actions: schedules, forward noising, DDPM posterior and
the reverse samplers.

Conventions follow docs/ALGORITHMS.md: `t in {0, ..., T-1}`, `t = 0` is the *least* noisy level,
`alpha_bar[t] = prod_{k<=t} (1 - beta[k])`, forward kernel
`q(a_t | a_0) = N(sqrt(alpha_bar_t) a_0, (1 - alpha_bar_t) I)`, and the network predicts the noise
`eps`. Everything is a pure function of a `Schedule` (a pytree of arrays), so it jits, vmaps and
scans; the reverse chain is a `lax.scan`, never a Python loop over timesteps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mjxrsm.config import choices

# eps_fn(a_t [B, d], t [B] or [] int32) -> eps [B, d]. Conditioning (the state) is closed over.
# The sampler passes a scalar t (every row is at the same level); the losses pass one t per row.
DenoiseFn = Callable[[jax.Array, jax.Array], jax.Array]

SCHEDULES, SAMPLERS, VARIANCES = choices.SCHEDULES, choices.SAMPLERS, choices.VARIANCES


class Schedule(NamedTuple):
    """Per-timestep constants, each of shape [T]."""

    betas: jax.Array
    alphas: jax.Array
    alpha_bar: jax.Array
    alpha_bar_prev: jax.Array  # alpha_bar[t-1], with alpha_bar[-1] := 1
    posterior_variance: jax.Array  # beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)
    posterior_log_variance: jax.Array  # log(beta_tilde_t), clipped at 1e-20 as in the official code
    c1: jax.Array  # posterior mean coefficient of x_0
    c2: jax.Array  # posterior mean coefficient of x_t

    @property
    def num_steps(self) -> int:
        return int(self.betas.shape[0])


def make_betas(num_steps: int, kind: str = "linear", beta_schedule_scale: float = 0.8) -> jax.Array:
    """Noise levels beta_t.

    linear: `beta_schedule_scale * linspace(1e-4, 0.999, T)` (the official code; scale 0.8 for
            DPMD/SDAC, 0.3 in DACER). With T=20, scale 0.8: beta_0 = 8e-5, beta_19 = 0.7992.
    cosine: Nichol & Dhariwal (2021), alpha_bar(t) = cos^2(((t/T) + s)/(1 + s) * pi/2), s=0.008.
    vp:     the discretised VP-SDE of Song et al. (beta_min=0.1, beta_max=10), as used by
            Diffusion-QL style policies.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if kind == "linear":
        return beta_schedule_scale * jnp.linspace(1e-4, 0.999, num_steps, dtype=jnp.float32)
    if kind == "cosine":
        s = 0.008
        x = jnp.arange(num_steps + 1, dtype=jnp.float64 if jax.config.x64_enabled else jnp.float32)
        f = jnp.cos(((x / num_steps) + s) / (1 + s) * math.pi / 2) ** 2
        ab = f / f[0]
        return jnp.clip(1.0 - ab[1:] / ab[:-1], 0.0, 0.999).astype(jnp.float32)
    if kind == "vp":
        t = jnp.arange(1, num_steps + 1, dtype=jnp.float32)
        b_min, b_max = 0.1, 10.0
        alpha = jnp.exp(-b_min / num_steps - 0.5 * (b_max - b_min) * (2 * t - 1) / num_steps**2)
        return 1.0 - alpha
    raise ValueError(f"unknown beta schedule {kind!r}; choose one of {SCHEDULES}")


def make_schedule(
    num_steps: int = 20, kind: str = "linear", beta_schedule_scale: float = 0.8
) -> Schedule:
    """All the constants of the forward process and DDPM posterior for one beta schedule."""
    betas = make_betas(num_steps, kind, beta_schedule_scale)
    alphas = 1.0 - betas
    alpha_bar = jnp.cumprod(alphas)
    alpha_bar_prev = jnp.concatenate([jnp.ones((1,), alpha_bar.dtype), alpha_bar[:-1]])
    posterior_variance = betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    return Schedule(
        betas=betas,
        alphas=alphas,
        alpha_bar=alpha_bar,
        alpha_bar_prev=alpha_bar_prev,
        posterior_variance=posterior_variance,
        posterior_log_variance=jnp.log(jnp.maximum(posterior_variance, 1e-20)),
        c1=betas * jnp.sqrt(alpha_bar_prev) / (1.0 - alpha_bar),
        c2=(1.0 - alpha_bar_prev) * jnp.sqrt(alphas) / (1.0 - alpha_bar),
    )


def _per_sample(v: jax.Array, t: jax.Array, x: jax.Array) -> jax.Array:
    """Gather v[t] and broadcast it against x (t has x's leading shape, without the last axis)."""
    return v[t].reshape(t.shape + (1,) * (x.ndim - t.ndim))


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
    """Forward noising: a_t = sqrt(alpha_bar_t) a_0 + sqrt(1 - alpha_bar_t) eps."""
    ab = _per_sample(schedule.alpha_bar, t, x0)
    return jnp.sqrt(ab) * x0 + jnp.sqrt(1.0 - ab) * noise


def predict_x0(schedule: Schedule, xt: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """E[x_0 | x_t] from a noise prediction: x_t / sqrt(ab) - eps * sqrt(1/ab - 1)."""
    ab = _per_sample(schedule.alpha_bar, t, xt)
    return xt / jnp.sqrt(ab) - eps * jnp.sqrt(1.0 / ab - 1.0)


def noise_from_x0(schedule: Schedule, xt: jax.Array, t: jax.Array, x0: jax.Array) -> jax.Array:
    """The noise that maps x_0 to x_t: (x_t - sqrt(ab) x_0) / sqrt(1 - ab)."""
    ab = _per_sample(schedule.alpha_bar, t, xt)
    return (xt - jnp.sqrt(ab) * x0) / jnp.sqrt(1.0 - ab)


def posterior_mean(schedule: Schedule, x0: jax.Array, xt: jax.Array, t: jax.Array) -> jax.Array:
    """Mean of q(x_{t-1} | x_t, x_0) = c1_t x_0 + c2_t x_t."""
    return _per_sample(schedule.c1, t, xt) * x0 + _per_sample(schedule.c2, t, xt) * xt


def sample(
    schedule: Schedule,
    eps_fn: DenoiseFn,
    key: jax.Array,
    shape: tuple[int, ...],
    *,
    init_noise_scale: float = 0.5,
    clip_x0: bool = True,
    clip_final: bool = True,
    sampler: str = "ddpm",
    variance: str = "posterior",
) -> jax.Array:
    """Draw `shape = (B, d)` samples by running the reverse chain t = T-1, ..., 0.

    The defaults are the official code's (docs/ALGORITHMS.md §4.1):
    x_{T-1} ~ init_noise_scale * N(0, I) (0.5, not 1), x_0 predictions clipped to [-1, 1] at every
    step, DDPM ancestral steps with the posterior variance beta_tilde_t, no noise at t = 0, final
    sample clipped to [-1, 1].

    This sampler is under-dispersed even with a perfect denoiser (§9: sd 0.094 for a target of sd
    0.166 at T=20, scale 0.8), because each step replaces x_0 by E[x_0 | x_t] and drops the term
    c1_t^2 Var(x_0 | x_t). `variance="exact_diag"` adds that term back, with the diagonal of
    Cov[x_0 | x_t] = ((1 - ab_t)/sqrt(ab_t)) dE[x_0|x_t]/dx_t from the denoiser's Jacobian
    (Tweedie); it is exact for targets with diagonal covariance and costs d extra JVPs per step.
    `variance="beta"` uses beta_t instead of beta_tilde_t; `sampler="ddim"` is deterministic DDIM.
    `sampler="langevin"` reads `eps_fn(x, 0)` as a score and runs `langevin_sample` (QSM).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    if variance not in VARIANCES:
        raise ValueError(f"unknown sampler variance {variance!r}; choose one of {VARIANCES}")
    if sampler == "langevin":
        return langevin_sample(lambda x: eps_fn(x, jnp.zeros((), jnp.int32)), key, shape,
                               schedule.num_steps, init_noise_scale=init_noise_scale)
    key, k0 = jax.random.split(key)
    x_init = init_noise_scale * jax.random.normal(k0, shape)

    def x0_of(x: jax.Array, t: jax.Array) -> jax.Array:
        x0 = predict_x0(schedule, x, t, eps_fn(x, t))
        return jnp.clip(x0, -1.0, 1.0) if clip_x0 else x0

    def step(x: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        t_scalar, k = inputs
        t = t_scalar  # one level for the whole batch: the network embeds it once per step
        x0 = x0_of(x, t)
        z = jax.random.normal(k, shape)
        nonzero = (t_scalar > 0).astype(x.dtype)
        if sampler == "ddim":
            ab_prev = schedule.alpha_bar_prev[t_scalar]
            eps = noise_from_x0(schedule, x, t, x0)
            return jnp.sqrt(ab_prev) * x0 + jnp.sqrt(1.0 - ab_prev) * eps, None
        mean = posterior_mean(schedule, x0, x, t)
        if variance == "posterior":
            var = jnp.exp(schedule.posterior_log_variance[t_scalar]) * jnp.ones_like(x)
        elif variance == "beta":
            var = schedule.betas[t_scalar] * jnp.ones_like(x)
        else:  # exact_diag: beta_tilde + c1^2 diag Cov[x_0 | x_t] (unclipped denoiser, Tweedie)
            jac_diag = _diag_jacobian(lambda y: predict_x0(schedule, y, t, eps_fn(y, t)), x)
            ab = schedule.alpha_bar[t_scalar]
            cov_diag = jnp.maximum((1.0 - ab) / jnp.sqrt(ab) * jac_diag, 0.0)
            var = schedule.posterior_variance[t_scalar] + schedule.c1[t_scalar] ** 2 * cov_diag
        return mean + nonzero * jnp.sqrt(var) * z, None

    ts = jnp.arange(schedule.num_steps - 1, -1, -1, dtype=jnp.int32)
    x, _ = jax.lax.scan(step, x_init, (ts, jax.random.split(key, schedule.num_steps)))
    return jnp.clip(x, -1.0, 1.0) if clip_final else x


def langevin_sample(
    score_fn: Callable[[jax.Array], jax.Array],
    key: jax.Array,
    shape: tuple[int, ...],
    num_steps: int,
    *,
    init_noise_scale: float = 1.0,
) -> jax.Array:
    """QSM's annealed Langevin chain (docs/ALGORITHMS.md §7): from x ~ init_noise_scale N(0, I),
    for k = 0..K-1 with step delta_k = 1 - k/K:  x <- clip(x + (delta_k / 2) score(x)
    + sqrt(delta_k) z, -1, 1).

    With the exact score of a density p this is unadjusted Langevin dynamics, whose fixed point
    approaches p as the step shrinks; QSM's score is a network regressed on grad_a Q, so the
    chain targets pi ~ exp(Q). The early, large steps are mostly noise (delta_0 = 1), the last
    ones (delta = 1/K) refine.
    """
    key, k0 = jax.random.split(key)
    x_init = init_noise_scale * jax.random.normal(k0, shape)

    def step(x: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        k, rng = inputs
        delta = 1.0 - k.astype(x.dtype) / num_steps
        z = jax.random.normal(rng, shape)
        return jnp.clip(x + 0.5 * delta * score_fn(x) + jnp.sqrt(delta) * z, -1.0, 1.0), None

    ks = jnp.arange(num_steps, dtype=jnp.int32)
    x, _ = jax.lax.scan(step, x_init, (ks, jax.random.split(key, num_steps)))
    return x


def _diag_jacobian(f: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """diag(df_i/dx_i) per sample for f acting row-wise on x [B, d]: d JVPs with basis vectors."""
    d = x.shape[-1]

    def one(e: jax.Array) -> jax.Array:
        _, tangent = jax.jvp(f, (x,), (jnp.broadcast_to(e, x.shape),))
        return (tangent * e).sum(-1)

    return jax.vmap(one, out_axes=-1)(jnp.eye(d, dtype=x.dtype))
