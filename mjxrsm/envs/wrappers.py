"""Training wrapper: time limit as truncation, auto-reset, episode statistics.

The trainer vmaps a single wrapped env over `num_envs` and runs it inside `lax.scan`, so episodes
end at different times in different lanes. Auto-reset therefore selects between the stepped and
the freshly reset state with `jnp.where` (no Python control flow), and the reset is computed on
every step (the price of branch-free code under vmap).

Contract of the wrapped env's `info` (same keys and dtypes after `reset` and `step`):

    steps              [] int32   steps taken in the current episode (the time-limit counter).
    episode_length     [] int32   length of the current episode so far (== steps; kept next to
                                  episode_return for symmetric logging).
    episode_return     [] float32 running return of the current episode.
    completed_return   [] float32 return of the episode that ended on this step, else 0.
    completed_length   [] int32   length of the episode that ended on this step, else 0.
    final_obs          [obs_dim]  the TRUE observation this step led to, before any auto-reset
                                  (equal to `obs` when the episode did not end). Store it as
                                  `next_obs` in the replay buffer.
    rng                key        the wrapper's own key for resets.
    ...                           the inner env's info entries of this step.

`terminated`/`truncated` report what happened on this step even though `obs` already belongs to
the next episode. Average returns of finished episodes as
`sum(completed_return) / max(sum(terminated + truncated), 1)`.

Inner envs must keep everything `step` needs in `physics`: on a step that ends an episode the
wrapper returns the reset physics but the *step's* info (it describes the transition just taken),
so anything an env carried in info would be stale for the next episode.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mjxrsm.envs.base import Env, EnvState

WRAPPER_INFO_KEYS: tuple[str, ...] = (
    "steps",
    "episode_length",
    "episode_return",
    "completed_return",
    "completed_length",
    "final_obs",
    "rng",
)


def _select(pred: jax.Array, on_true, on_false):
    """Per-leaf `jnp.where(pred, on_true, on_false)` for a scalar predicate (vmap-safe)."""
    return jax.tree.map(lambda t, f: jnp.where(pred, t, f), on_true, on_false)


@dataclasses.dataclass(frozen=True)
class TrainingWrapper:
    """`Env` with time limit, auto-reset and episode statistics; see the module docstring."""

    env: Env
    time_limit: int

    @property
    def observation_size(self) -> int:
        return self.env.observation_size

    @property
    def action_size(self) -> int:
        return self.env.action_size

    @property
    def episode_length(self) -> int:
        return self.time_limit

    def _inner_info(self, info: dict[str, jax.Array]) -> dict[str, jax.Array]:
        return {k: v for k, v in info.items() if k not in WRAPPER_INFO_KEYS}

    def reset(self, key: jax.Array) -> EnvState:
        key, env_key = jax.random.split(key)
        state = self.env.reset(env_key)
        clash = sorted(set(state.info) & set(WRAPPER_INFO_KEYS))
        if clash:
            raise ValueError(
                f"inner env info uses keys reserved by the training wrapper: {clash} "
                "(is the env wrapped twice?)"
            )
        zero_i = jnp.zeros((), jnp.int32)
        zero_f = jnp.zeros((), jnp.float32)
        info = {
            **state.info,
            "steps": zero_i,
            "episode_length": zero_i,
            "episode_return": zero_f,
            "completed_return": zero_f,
            "completed_length": zero_i,
            "final_obs": state.obs,
            "rng": key,
        }
        return state.replace(
            terminated=jnp.zeros((), jnp.float32), truncated=jnp.zeros((), jnp.float32), info=info
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        info = state.info
        inner = self.env.step(state.replace(info=self._inner_info(info)), action)

        steps = info["steps"] + 1
        terminated = (inner.terminated > 0).astype(jnp.float32)
        hit_limit = steps >= self.time_limit
        truncated = ((inner.truncated > 0) | hit_limit) & (terminated == 0)
        truncated = truncated.astype(jnp.float32)
        done = (terminated > 0) | (truncated > 0)

        episode_return = info["episode_return"] + inner.reward.astype(jnp.float32)
        rng, reset_key = jax.random.split(info["rng"])
        # An env that can reset only the lanes that need it (the C engine: one forward per
        # finished episode instead of one per env and step) gets `done`; the others reset all.
        reset_where = getattr(self.env, "reset_where", None)
        fresh = self.env.reset(reset_key) if reset_where is None else reset_where(reset_key, done)

        zero_i = jnp.zeros((), jnp.int32)
        zero_f = jnp.zeros((), jnp.float32)
        new_info = {
            **inner.info,
            "steps": jnp.where(done, zero_i, steps),
            "episode_length": jnp.where(done, zero_i, steps),
            "episode_return": jnp.where(done, zero_f, episode_return),
            "completed_return": jnp.where(done, episode_return, zero_f),
            "completed_length": jnp.where(done, steps, zero_i),
            "final_obs": inner.obs,
            "rng": rng,
        }
        select = getattr(self.env, "select_physics", _select)  # engines with their own merge
        return EnvState(
            physics=select(done, fresh.physics, inner.physics),
            obs=jnp.where(done, fresh.obs, inner.obs),
            reward=inner.reward,
            terminated=terminated,
            truncated=truncated,
            info=new_info,
        )


def wrap_for_training(env: Env, episode_length: int | None = None) -> Env:
    """Wraps a single env for the trainer; `episode_length` overrides `env.episode_length`."""
    limit = env.episode_length if episode_length is None else int(episode_length)
    if limit <= 0:
        raise ValueError(f"episode_length must be positive, got {limit}")
    return TrainingWrapper(env=env, time_limit=limit)
