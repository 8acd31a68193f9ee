"""What every agent shares: the `Agent` interface, optimiser helpers, Polyak averaging and the
twin-critic TD step. An algorithm is a policy loss plus a few settings on top of these.

Data parallelism lives in these shared helpers, not in the algorithms: every gradient goes through
`value_and_mean_grad` (averaged over the trainer's devices, plain `jax.value_and_grad` outside its
shard_map) and batch statistics that feed replicated state through `mjxrsm.core.sharding`'s
`batch_mean`/`data_mean`. An algorithm that uses `critic_step`, `policy_grad_step` and
`temperature_step` (or `value_and_mean_grad` for its own losses) is data-parallel as written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mjxrsm.core.replay import Transition
from mjxrsm.core.sharding import data_mean, value_and_mean_grad, zeros_like_type
from mjxrsm.models.policy import temperature_loss

Params = Any
Metrics = dict[str, Any]  # name -> jax.Array or core.metrics.Weighted


class Agent(NamedTuple):
    """Pure functions over an explicit, immutable agent state.

    init(key) -> state
    act(state, obs [N, o], key, deterministic: bool) -> actions [N, d]   (deterministic is static)
    update(state, batch: Transition with leading batch axis, key) -> (state, metrics)

    `update`'s metrics are plain arrays (averaged over every update) or `Weighted` values
    (mjxrsm/core/metrics.py) for a step that runs on only some updates, carrying whether it ran:
    the agent says what each metric averages over, so the trainer needs no list of names.
    """

    init: Callable[[jax.Array], Any]
    act: Callable[..., jax.Array]
    update: Callable[[Any, Transition, jax.Array], tuple[Any, Metrics]]


# Select pytree a where the scalar `cond` holds, else b (no Python branching under jit).
tree_where = optax.tree_utils.tree_where


def cond_or_zeros(do: jax.Array, fn: Callable, *operands):
    """`fn(*operands)` under `lax.cond` when `do` holds; otherwise the operands' first element(s)
    pass through and every metric is zero.

    `fn` returns `(*carried, metrics)` where `carried` mirrors `operands`. Skipping with lax.cond
    (rather than computing and discarding) saves the work of delayed / fractional steps.
    """
    shapes = jax.eval_shape(fn, *operands)[-1]

    def skip(*ops):
        return (*ops, jax.tree.map(zeros_like_type, shapes))

    return jax.lax.cond(do, fn, skip, *operands)


def polyak(target: Params, online: Params, tau: float) -> Params:
    """target <- tau * online + (1 - tau) * target, computed as target + tau * (online - target).

    Not `optax.incremental_update`: it computes tau * online + (1 - tau) * target, which rounds
    differently, so every existing seed's curve would change bit for bit."""
    return jax.tree.map(lambda t, o: t + tau * (o - t), target, online)


def adam_step(
    optimizer: optax.GradientTransformation, grads: Params, opt_state, params: Params
) -> tuple[Params, Any]:
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def apply_if(
    do: jax.Array, optimizer: optax.GradientTransformation, grads: Params, opt_state, params: Params
) -> tuple[Params, Any]:
    """An optimiser step that takes effect (count included) only when `do` holds."""
    new_params, new_state = adam_step(optimizer, grads, opt_state, params)
    return tree_where(do, new_params, params), tree_where(do, new_state, opt_state)


def td_target(
    reward: jax.Array, done: jax.Array, next_value: jax.Array, gamma: float, reward_scale: float
) -> jax.Array:
    """y = reward_scale * r + gamma * (1 - done) * V(s'); `done` is termination only."""
    return reward_scale * reward + gamma * (1.0 - done) * next_value


def critic_loss_fn(
    critic_apply: Callable, critic_params: Params, obs: jax.Array, action: jax.Array, y: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Sum over the ensemble of mean squared TD errors (each critic regresses on the same y)."""
    q = critic_apply(critic_params, obs, action)  # [K, B]
    return jnp.square(q - jax.lax.stop_gradient(y)[None]).mean(axis=1).sum(), q


class CriticUpdate(NamedTuple):
    params: Params
    opt_state: Any
    grads: Params  # kept: DPMD applies the same gradients a second time
    loss: jax.Array
    q: jax.Array  # [K, B] online Q of the batch, before the step


def critic_step(
    critic_apply: Callable,
    optimizer: optax.GradientTransformation,
    params: Params,
    opt_state,
    batch: Transition,
    y: jax.Array,
) -> CriticUpdate:
    """One Adam step of the critic ensemble towards the TD target `y` (shared by every agent)."""
    (loss, q), grads = value_and_mean_grad(
        lambda p: critic_loss_fn(critic_apply, p, batch.obs, batch.action, y), has_aux=True
    )(params)
    params, opt_state = adam_step(optimizer, grads, opt_state, params)
    return CriticUpdate(params, opt_state, grads, loss, q)


def temperature_step(
    optimizer: optax.GradientTransformation,
    log_alpha: jax.Array,
    opt_state,
    entropy: jax.Array,
    target_entropy: float,
    do: jax.Array | None = None,
) -> tuple[jax.Array, Any]:
    """One Adam step on log(alpha) for the loss -log(alpha) (target - H): alpha rises when the
    entropy H is below target. `do` (optional) gates the step, e.g. every N updates. A batch
    entropy estimate is averaged over devices first, so log(alpha) stays replicated."""
    entropy = data_mean(entropy)
    grad = jax.grad(lambda la: temperature_loss(la, entropy, target_entropy))(log_alpha)
    if do is None:
        return adam_step(optimizer, grad, opt_state, log_alpha)
    return apply_if(do, optimizer, grad, opt_state, log_alpha)


def polyak_if(do: jax.Array, target: Params, online: Params, tau: float) -> Params:
    """The Polyak target step, taken only when `do` holds (delayed target updates)."""
    return tree_where(do, polyak(target, online, tau), target)
