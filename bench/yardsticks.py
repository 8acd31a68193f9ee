"""Throughput yardsticks, measured in the same benchmark run as the trainer: the physics limit
(the wrapped MJX env stepped with random actions, no learning) and Brax's own SAC trainer at
matched settings. Each runs in its own subprocess (bench/throughput.py launches them)."""

from __future__ import annotations

import math
import time
from typing import Any

from bench.common import Timing
from bench.measure import build_config


def worker_physics(spec: dict) -> dict:
    """The physics limit: env steps only (random actions), wrapped as in training and raw."""
    import jax

    from bench.common import compile_timed, per_call, time_steady
    from mjxrsm.envs import make_env, wrap_for_training

    n, iters, timing = spec["num_envs"], spec["chunk_iters"], Timing(**spec["timing"])
    raw = make_env(spec["env"])
    out: dict[str, Any] = {}
    envs = {"wrapped": wrap_for_training(raw, spec["episode_length"] or None)}  # 0: task's own
    if spec.get("raw"):
        envs["raw"] = raw
    for label, env in envs.items():
        act_size = env.action_size

        def rollout(carry, env=env, act_size=act_size):
            def body(c, _):
                s, k = c
                k, ka = jax.random.split(k)
                a = jax.random.uniform(ka, (n, act_size), minval=-1.0, maxval=1.0)
                return (jax.vmap(env.step)(s, a), k), None

            return jax.lax.scan(body, carry, None, length=iters)[0]

        keys = jax.random.split(jax.random.PRNGKey(0), n)
        reset, reset_compile = compile_timed(jax.jit(jax.vmap(env.reset)), keys)
        carry = (reset(keys), jax.random.PRNGKey(1))
        step, step_compile = compile_timed(jax.jit(rollout, donate_argnums=0), carry)
        carry = step(carry)
        jax.block_until_ready(carry)
        _, times = time_steady(step, carry, timing)
        out[label] = {"env_steps_per_s": n * iters / per_call(times), "chunk_s": times,
                      "compile": {"reset": reset_compile, "rollout": step_compile}}
    out["chunk_iters"] = iters
    return out


def _patch_brax_for_installed_jax() -> list[str]:
    """Brax 0.14.2's SAC calls `jax.device_put_replicated`, which this JAX removed; give it the
    documented single-device equivalent (stack along a new leading device axis)."""
    import jax
    import jax.numpy as jnp

    patched = []
    try:
        jax.device_put_replicated  # noqa: B018 - attribute probe
    except AttributeError:
        def device_put_replicated(x, devices):
            return jax.tree.map(lambda a: jnp.stack([jnp.asarray(a)] * len(devices)), x)

        jax.device_put_replicated = device_put_replicated
        patched.append("jax.device_put_replicated shim (stack over devices)")
    return patched


class _NoEvaluator:
    """Stands in for Brax's Evaluator: its rollouts lie outside the timed training epochs and
    would only add compile time (and its reset compile) to the benchmark."""

    def __init__(self, *args, **kwargs):
        pass

    def run_evaluation(self, policy_params, training_metrics, aggregate_episodes=True):
        return dict(training_metrics)


def worker_brax_sac(spec: dict) -> dict:
    """Brax's own SAC trainer configured like our SAC cell; steady state = epochs after the
    first (which includes compilation), timed by Brax itself (`training/sps`)."""
    import functools

    from bench.common import per_call

    patched = _patch_brax_for_installed_jax()
    from brax import envs as brax_envs
    from brax.training import acting
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac_train

    from mjxrsm.core.trainer import UpdateSchedule
    from mjxrsm.envs import make_env

    acting.Evaluator = _NoEvaluator
    patched.append("brax.training.acting.Evaluator -> no-op (evaluation is not timed)")
    config, applied = build_config(spec["env"], "sac", spec["preset"], spec["overrides"])
    n, batch = config.num_envs, config.algo.batch_size
    sched = UpdateSchedule.from_ratio(config.utd_ratio, n)
    grad_updates = sched.per_iter if sched.every == 1 else 1
    iters, epochs = spec["chunk_iters"], spec["epochs"]
    min_replay = max(batch, n)
    prefill = -(-min_replay // n) * n
    hidden = tuple(config.algo.hidden)
    kwargs = {
        "num_timesteps": prefill + epochs * iters * n,
        "episode_length": config.env.episode_length or make_env(spec["env"]).episode_length,
        "num_envs": n,
        "num_eval_envs": 1,
        "learning_rate": config.algo.lr,
        "discounting": config.algo.gamma,
        "seed": 0,
        "batch_size": batch,
        "num_evals": epochs + 1,
        "reward_scaling": config.algo.reward_scale,
        "tau": config.algo.tau,
        "min_replay_size": min_replay,
        "max_replay_size": config.replay_capacity,
        "grad_updates_per_step": grad_updates,
        "max_devices_per_host": 1,
    }
    marks: list[tuple[float, int, float]] = []

    def progress(step, metrics):
        marks.append((time.perf_counter(), int(step), float(metrics.get("training/sps", math.nan))))

    t0 = time.perf_counter()
    sac_train.train(
        environment=brax_envs.get_environment(spec["env"], backend="mjx"),
        network_factory=functools.partial(sac_networks.make_sac_networks,
                                          hidden_layer_sizes=hidden),
        progress_fn=progress, **kwargs,
    )
    wall = time.perf_counter() - t0
    sps = [m[2] for m in marks[1:]]  # marks[0] is the (skipped) initial evaluation
    epoch_steps = iters * n
    env_sps = epoch_steps / per_call([epoch_steps / s for s in sps[1:]])
    return {
        "env_steps_per_s": env_sps,
        "updates_per_s": env_sps / n * grad_updates,
        "epoch_sps": sps,
        "compile_s_est": epoch_steps / sps[0] - epoch_steps / env_sps,
        "wall_s": wall,
        "updates_per_vector_step": grad_updates,
        "updates_matched": sched.every == 1,
        "settings": {**kwargs, "hidden_layer_sizes": hidden, "activation": "relu (brax default)",
                     "alpha_lr": 3e-4, "policy_and_q_lr": config.algo.lr,
                     "steps_per_epoch": iters},
        "patches": patched,
        "applied_overrides": applied,
    }
