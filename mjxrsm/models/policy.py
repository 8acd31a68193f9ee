"""The diffusion policy as an actor: reverse sampling, best-of-N selection by min-Q, exploration
noise and the Gaussian entropy proxy that tunes the temperature (docs/ALGORITHMS.md §4.3-4.4).

`DiffusionPolicy` bundles the static pieces (network modules, schedule, sampler settings) so that
the agents pass only parameters and arrays around.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from mjxrsm.models import diffusion
from mjxrsm.models.diffusion import DenoiseFn, Schedule
from mjxrsm.models.networks import CriticEnsemble, NoisePredictor


@dataclasses.dataclass(frozen=True)
class DiffusionPolicy:
    """Static description of a diffusion actor with its critic ensemble."""

    eps_net: NoisePredictor
    critic_net: CriticEnsemble
    schedule: Schedule
    init_noise_scale: float = 0.5
    clip_x0: bool = True
    sampler: str = "ddpm"
    sampler_variance: str = "posterior"

    def eps_fn(self, params, obs: jax.Array, repeat: int = 1) -> DenoiseFn:
        """The denoiser conditioned on `obs` [B, o], as the sampler and the losses want it. The
        state's share of the first layer is computed here once, not once per reverse step, and
        with `repeat` > 1 once for the `repeat` consecutive rows [B * repeat] it serves."""
        cond = self.eps_net.apply(params, obs, method="condition")
        if repeat > 1:
            cond = jnp.repeat(cond, repeat, axis=0)
        return self.denoise_fn(params, cond)

    def denoise_fn(self, params, cond: jax.Array) -> DenoiseFn:
        """The denoiser for precomputed state features `cond` [B, hidden[0]]."""
        return lambda a_t, t: self.eps_net.apply(params, cond, a_t, t, method="denoise")

    def sample(self, params, obs: jax.Array, key: jax.Array, num_particles: int = 1) -> jax.Array:
        """`num_particles` reverse chains per row of obs [B, o] -> actions [B * N, d] in [-1, 1]
        (chains of one state are adjacent rows)."""
        cond = self.eps_net.apply(params, obs, method="condition")
        if num_particles > 1:
            cond = jnp.repeat(cond, num_particles, axis=0)
        return diffusion.sample(
            self.schedule,
            self.denoise_fn(params, cond),
            key,
            (cond.shape[0], self.eps_net.action_size),
            init_noise_scale=self.init_noise_scale,
            clip_x0=self.clip_x0,
            sampler=self.sampler,
            variance=self.sampler_variance,
        )

    def q_min(self, critic_params, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """min over the critic ensemble: [B] (or [B*N] for N actions per state, see Critic)."""
        return self.critic_net.apply(critic_params, obs, actions).min(axis=0)

    def best_of_n(
        self, params, critic_params, obs: jax.Array, key: jax.Array, num_particles: int
    ) -> jax.Array:
        """Draw `num_particles` independent chains per state and keep the one with the largest
        min-Q. All B*N chains run as one batch (one scan of T network calls on [B*N, .])."""
        return self.best_of_n_with_particles(params, critic_params, obs, key, num_particles)[0]

    def best_of_n_with_particles(
        self, params, critic_params, obs: jax.Array, key: jax.Array, num_particles: int
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The best particle [B, d], every particle [B, N, d] and their min-Q [B, N]: the
        particles are the policy's own samples, which a per-state policy step can reuse."""
        b = obs.shape[0]
        cand = self.sample(params, obs, key, num_particles)  # [B*N, d], state-major
        q = self.q_min(critic_params, obs, cand).reshape(b, num_particles)
        best = jnp.argmax(q, axis=-1)
        cand = cand.reshape(b, num_particles, -1)
        return jnp.take_along_axis(cand, best[:, None, None], axis=1)[:, 0], cand, q


def explore(
    actions: jax.Array, alpha: jax.Array, noise_scale: float, key: jax.Array, clip: bool
) -> jax.Array:
    """a + noise_scale * alpha * N(0, I). The official code does not clip afterwards (§6.7)."""
    noisy = actions + noise_scale * alpha * jax.random.normal(key, actions.shape)
    return jnp.clip(noisy, -1.0, 1.0) if clip else noisy


def gaussian_entropy_proxy(alpha: jax.Array, action_size: int, noise_scale: float) -> jax.Array:
    """Entropy of the exploration Gaussian, (d/2) log(2 pi e (noise_scale alpha)^2).

    The official code uses this as the policy-entropy estimate for tuning alpha (with
    noise_scale hard-coded to 0.1; our `entropy_noise_scale` defaults to that).
    """
    return 0.5 * action_size * jnp.log(2 * math.pi * math.e * (noise_scale * alpha) ** 2)


def temperature_loss(
    log_alpha: jax.Array, entropy: jax.Array, target_entropy: float
) -> jax.Array:
    """-log(alpha) * (target - H): raises alpha when the entropy is below target. H carries no
    gradient, so the loss moves only log_alpha."""
    return -log_alpha * (target_entropy - jax.lax.stop_gradient(entropy))
