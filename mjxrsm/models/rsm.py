"""Reweighted Score Matching: the two policy losses (docs/ALGORITHMS.md §1-3).

RSM replaces denoising score matching's outer measure (samples of the *target* policy, which we
cannot draw online) by any positive weighting g_t(a_t); wherever g_t > 0 the optimum is still the
target's score. The two instances:

* DPMD (mirror descent, target pi_old * exp(Q/lambda)): importance-weighted DSM on samples of the
  current policy, weight exp(Q/lambda). `dpmd_weights` + `weighted_denoising_loss`.
* SDAC (max-entropy, target exp(Q/lambda)): by Bayes, E[eps | a_t] is a softmax(Q/lambda)-weighted
  mean of the noises of K "reverse samples" a_0^(k) ~ N(a_t/sqrt(ab), (1-ab)/ab I).
  `sdac_reverse_samples` + `sdac_target_noise` + `weighted_denoising_loss`.

Each function is small and pure; the agents (agents/dpmd.py, agents/sdac.py) only wire them up.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from mjxrsm.config import choices
from mjxrsm.core.sharding import batch_mean, batch_std
from mjxrsm.models import diffusion
from mjxrsm.models.diffusion import DenoiseFn, Schedule

Q_NORMS = choices.Q_NORMS


class RunningStats(NamedTuple):
    """Scalar EMA of the batch mean/std of Q (official: rate 0.001, init m=0, s=1)."""

    mean: jax.Array
    std: jax.Array

    @classmethod
    def init(cls) -> RunningStats:
        return cls(jnp.zeros((), jnp.float32), jnp.ones((), jnp.float32))

    def update(self, q: jax.Array, rate: float) -> RunningStats:
        """EMA step towards the batch's mean and std (over all devices' batches when sharded)."""
        mean = batch_mean(q)
        return RunningStats(
            self.mean + rate * (mean - self.mean), self.std + rate * (batch_std(q, mean) - self.std)
        )


def normalise_q(q: jax.Array, stats: RunningStats, mode: str) -> jax.Array:
    """The DPMD score fed to the exponential.

    official:    q - m / s  (the official code's operator-precedence bug, §6.1: the intended
                 standardisation is (q - m) / s; with the clip at +-3 this saturates nearly every
                 weight once |Q| >> 3, which the 3rd-party fork found acts as a tuned temperature)
    standardize: (q - m) / (s + 1e-6)
    none:        q
    """
    if mode == "official":
        return q - stats.mean / stats.std
    if mode == "standardize":
        return (q - stats.mean) / (stats.std + 1e-6)
    if mode == "none":
        return q
    raise ValueError(f"unknown q_norm {mode!r}; choose one of {Q_NORMS}")


def dpmd_weights(
    q: jax.Array,
    stats: RunningStats,
    temperature: jax.Array | float,
    *,
    q_norm: str = "official",
    clip: float = 3.0,
    constant_weights: bool = False,
) -> jax.Array:
    """w = exp(clip(norm(Q), -c, c) / lambda), not normalised over the batch, no gradient.

    The weights are constants with respect to the policy (they depend on critic parameters and
    the temperature only); `stop_gradient` makes that explicit so no gradient can leak into the
    critic or the temperature through the policy loss. `constant_weights=True` is the ablation of
    §6.2 (pure best-of-N self-imitation).
    """
    if constant_weights:
        return jnp.ones_like(q)
    n = jnp.clip(normalise_q(q, stats, q_norm), -clip, clip)
    return jax.lax.stop_gradient(jnp.exp(n / temperature))


def per_state_weights(
    q: jax.Array, temperature: jax.Array | float, *, clip: float = 3.0
) -> tuple[jax.Array, jax.Array]:
    """Weights of N samples per state, q [B, N] -> (w [B, N], z [B, N]), no gradient.

    z standardises Q within each state (an advantage in units of the state's own spread), so
    the weights exp(clip(z, -c, c) / lambda) rank a state's actions, not the states; they are
    then normalised to mean 1 per state, so that every state counts the same. This is the
    per-state reading of the target pi_old(a|s) exp(Q(s,a)/lambda) / Z(s), for
    `policy_samples=particles` (a deviation from the official batch-normalised weights,
    docs/experiments/)."""
    mean = q.mean(axis=-1, keepdims=True)
    z = jnp.clip((q - mean) / (q.std(axis=-1, keepdims=True) + 1e-6), -clip, clip)
    w = jnp.exp(z / temperature)
    return jax.lax.stop_gradient(w / w.mean(axis=-1, keepdims=True)), z


def weighted_denoising_loss(eps_pred: jax.Array, eps_target: jax.Array, w: jax.Array) -> jax.Array:
    """mean_{batch, action dims} of w * (eps_pred - eps_target)^2 (no 1/2, as in the official code).

    eps_pred, eps_target: [B, d]; w: [B].
    """
    return jnp.mean(w[:, None] * jnp.square(eps_pred - eps_target))


def noised_actions(
    schedule: Schedule, actions: jax.Array, key: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """t ~ U{0..T-1}, eps ~ N(0, I), a_t = sqrt(ab) a + sqrt(1-ab) eps; returns (a_t, t, eps)."""
    kt, ke = jax.random.split(key)
    t = jax.random.randint(kt, actions.shape[:-1], 0, schedule.num_steps)
    eps = jax.random.normal(ke, actions.shape)
    return diffusion.q_sample(schedule, actions, t, eps), t, eps


def dpmd_loss(
    eps_fn: DenoiseFn, schedule: Schedule, actions: jax.Array, weights: jax.Array, key: jax.Array
) -> jax.Array:
    """DPMD's policy loss: weighted DSM on current-policy actions [B, d] with weights [B].

    Minimised (with enough capacity) by the denoiser of pi_old * exp(Q/lambda), pi_old being the
    distribution of `actions`.
    """
    a_t, t, eps = noised_actions(schedule, jax.lax.stop_gradient(actions), key)
    return weighted_denoising_loss(eps_fn(a_t, t), eps, weights)


class ReverseSamples(NamedTuple):
    """K candidate clean actions per noised action, and the noise each one implies."""

    actions: jax.Array  # [B, K, d] a_0^(k) (clipped to the box if asked)
    noise: jax.Array  # [B, K, d] eps_2^(k): a_t = sqrt(ab) a_0^(k) + sqrt(1-ab) eps_2^(k)


def sdac_reverse_samples(
    schedule: Schedule,
    a_t: jax.Array,
    t: jax.Array,
    key: jax.Array,
    num_candidates: int,
    *,
    clip: bool = True,
) -> ReverseSamples:
    """a_0^(k) = (a_t - sqrt(1-ab) eps_2^(k)) / sqrt(ab): draws of N(a_t/sqrt(ab), (1-ab)/ab I).

    `clip=True` (official) clips the candidates to [-1, 1] but keeps the unclipped eps_2 as the
    regression target (§6.8: the target then no longer matches the scored action exactly).
    """
    b, d = a_t.shape
    eps2 = jax.random.normal(key, (b, num_candidates, d))
    ab = schedule.alpha_bar[t][:, None, None]
    a0 = (a_t[:, None, :] - jnp.sqrt(1.0 - ab) * eps2) / jnp.sqrt(ab)
    return ReverseSamples(jnp.clip(a0, -1.0, 1.0) if clip else a0, eps2)


def sdac_target_noise(logits: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Self-normalised importance estimate of E[eps | a_t] = sum_k softmax_k(logits) eps_2^(k).

    logits: [B, K] (Q(s, a_0^(k)) / lambda); noise: [B, K, d]. Returns (eps_bar [B, d], w [B, K]),
    both without gradient.
    """
    w = jax.lax.stop_gradient(jax.nn.softmax(logits, axis=-1))
    return jnp.einsum("bk,bkd->bd", w, noise), w


def sdac_loss(eps_fn: DenoiseFn, a_t: jax.Array, t: jax.Array, eps_bar: jax.Array) -> jax.Array:
    """SDAC's policy loss in its cheap exact form: one network call per state, target eps_bar.

    Because the K copies share the network input and sum_k w_k = 1,
    sum_k w_k ||eps - eps_k||^2 = ||eps - eps_bar||^2 + const, so this equals the official K-copy
    loss (`sdac_loss_kcopy`, a mean over B*K rows) times K, up to a constant: same gradient up to
    the factor 1/K (tested), K times less network work.
    """
    return weighted_denoising_loss(eps_fn(a_t, t), eps_bar, jnp.ones(a_t.shape[:1], a_t.dtype))


def sdac_loss_kcopy(
    eps_fn: DenoiseFn, a_t: jax.Array, t: jax.Array, noise: jax.Array, w: jax.Array
) -> jax.Array:
    """The official form (`reverse_samping_weighted_p_loss`): repeat each (a_t, t) K times and
    average w_k (eps_theta - eps_2^(k))^2 over B*K rows and d. Kept for the equivalence test."""
    b, k, d = noise.shape
    a_rep = jnp.repeat(a_t, k, axis=0)
    t_rep = jnp.repeat(t, k, axis=0)
    return weighted_denoising_loss(eps_fn(a_rep, t_rep), noise.reshape(b * k, d), w.reshape(-1))
