"""Per-update cost breakdown: each part of one gradient update, jitted and timed on its own.

Why: the full update is one fused XLA program, so a profile of it says little about which
*algorithmic* part to make cheaper. Here each part runs alone inside a `lax.scan` whose carry
depends on the previous iteration (so XLA can neither hoist nor drop the work), on random data
of the real shapes (the cost of these networks does not depend on the values).

The parts are the agent's own (`Agent.parts`: the library functions `update` composes, forced to
run), so this times the code that trains, never a copy. Every agent has
  td_sampling       the next action for the TD target (diffusion: B*N reverse chains of T
                    denoiser calls + min-Q over the B*N candidates; SAC: one Gaussian sample)
  critic_step       target Q of (s', a'), TD loss, gradient and Adam step
  policy_step       the algorithm's policy step (DPMD's weighted DSM; SDAC's proposal best-of-N
                    + K reverse candidates + B*K critic evaluations; SAC's reparameterised step)
  temperature_step  the alpha step
plus its own extras (SDAC: candidate_q, the B*K candidate critic evaluations alone), and
  act               acting for `num_envs` states (with exploration), once per vector step
  update            the complete `agent.update` (policy step every `policy_delay` updates)

`amortised_sum` = td_sampling + critic_step + policy_step / policy_delay; `update -
amortised_sum` is what those leave out (targets, temperature, DPMD's second critic Adam step,
glue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from bench.common import Timing, compile_timed, per_call, time_steady
from mjxrsm.core.replay import Transition


def random_batch(key: jax.Array, lead: tuple[int, ...], obs_size: int, act_size: int) -> Transition:
    """Transitions of the right shapes: N(0,1) observations and rewards, U(-1,1) actions."""
    k = jax.random.split(key, 4)
    return Transition(
        obs=jax.random.normal(k[0], (*lead, obs_size)),
        action=jax.random.uniform(k[1], (*lead, act_size), minval=-1.0, maxval=1.0),
        reward=jax.random.normal(k[2], lead),
        next_obs=jax.random.normal(k[3], (*lead, obs_size)),
        done=jnp.zeros(lead),
    )


def time_scanned(body: Callable[[Any, Any], Any], consts: Any, carry: Any, reps: int,
                 timing: Timing) -> dict:
    """Time `reps` dependent iterations of `carry = body(consts, carry)` in one jitted scan.

    `consts` (parameters, batches) are arguments of the compiled program, not baked-in
    constants, so XLA cannot fold any of the work away. Returns compile time and the steady
    time per iteration in milliseconds."""

    def run(consts, c):
        return jax.lax.scan(lambda c, _: (body(consts, c), None), c, None, length=reps)[0]

    compiled, comp = compile_timed(jax.jit(run), consts, carry)
    carry = compiled(consts, carry)  # first run: page in, not timed
    jax.block_until_ready(carry)
    _, times = time_steady(lambda c: compiled(consts, c), carry, timing)
    return {"ms": 1e3 * per_call(times) / reps, "reps_per_call": reps, "calls": len(times), **comp}


def dense_macs(params) -> int:
    """Multiply-accumulates of one forward pass per input row: the sum of all Dense kernel
    sizes (an ensemble's kernels carry the ensemble axis, so all its members count)."""
    return sum(int(x.size) for path, x in jax.tree_util.tree_leaves_with_path(params)
               if "kernel" in jax.tree_util.keystr(path))


def _checksum(x: jax.Array) -> jax.Array:
    return jnp.sum(x).astype(jnp.float32)


def update_rate(agent, state, obs_size: int, act_size: int, batch_size: int, reps: int,
                timing: Timing) -> dict:
    """`agent.update` alone, `reps` updates per jitted scan, on fresh random batches."""
    batches = random_batch(jax.random.PRNGKey(7), (reps, batch_size), obs_size, act_size)
    keys = jax.random.split(jax.random.PRNGKey(8), reps)

    def run(xs, st):
        st, metrics = jax.lax.scan(lambda s, x: agent.update(s, *x), st, xs)
        return st, jax.tree.map(jnp.mean, metrics)  # the trainer also reduces the metrics

    xs = (batches, keys)
    compiled, comp = compile_timed(jax.jit(run), xs, state)
    state, _ = compiled(xs, state)
    jax.block_until_ready(state)
    _, times = time_steady(lambda s: compiled(xs, s)[0], state, timing)
    t = per_call(times)
    return {"updates_per_s": reps / t, "ms": 1e3 * t / reps,
            "reps_per_call": reps, "calls": len(times), **comp}


def parts_breakdown(cfg: ConfigDict, obs_size: int, act_size: int, num_envs: int, reps: int,
                    timing: Timing) -> dict[str, dict]:
    """Every part in `Agent.parts` for the algorithm named by `cfg.name` (ms per call), then
    acting and the whole update."""
    from mjxrsm.agents import make_agent

    agent = make_agent(cfg, obs_size, act_size)
    state = jax.jit(agent.init)(jax.random.PRNGKey(0))
    batch = random_batch(jax.random.PRNGKey(1), (cfg.batch_size,), obs_size, act_size)
    out: dict[str, dict] = {}
    for i, (name, part) in enumerate(agent.parts.items()):

        def body(b, carry, part=part):
            st, key, acc = carry
            key, k = jax.random.split(key)
            st, result = part(st, b, k)
            return st, key, acc + sum(_checksum(x) for x in jax.tree.leaves(result))

        carry = (state, jax.random.PRNGKey(3 + i), jnp.zeros(()))
        out[name] = time_scanned(body, batch, carry, reps, timing)
    if "diffusion_steps" in cfg:
        # Matmul work of best-of-N: B*N rows through T denoiser calls and the critic ensemble.
        # The achieved rate against the device's peak says how much a faster kernel could still
        # give (activations, e.g. mish's exp, come on top and are not counted).
        n = cfg.num_particles
        flop = 2.0 * cfg.batch_size * n * (cfg.diffusion_steps * dense_macs(state.policy)
                                           + dense_macs(state.critic))
        out["td_sampling"].update(
            gflop=flop / 1e9, matmul_gflop_per_s=flop / 1e9 / (out["td_sampling"]["ms"] / 1e3))
    out.update(_act_and_update(agent, state, obs_size, act_size, cfg.batch_size, num_envs, reps,
                               timing))
    delay = cfg.policy_delay
    amortised = (out["td_sampling"]["ms"] + out["critic_step"]["ms"]
                 + out["policy_step"]["ms"] / delay)
    out["amortised_sum"] = {"ms": amortised, "policy_delay": delay}
    return out


def _act_and_update(agent, state, obs_size: int, act_size: int, batch_size: int, num_envs: int,
                    reps: int, timing: Timing) -> dict[str, dict]:
    consts = {"state": state,
              "obs": jax.random.normal(jax.random.PRNGKey(6), (num_envs, obs_size))}

    def act(c, carry):
        key, acc = carry
        key, k = jax.random.split(key)
        return key, acc + _checksum(agent.act(c["state"], c["obs"], k))

    timed = time_scanned(act, consts, (jax.random.PRNGKey(9), jnp.zeros(())), reps, timing)
    out = {"act": {**timed, "num_envs": num_envs}}
    out["update"] = update_rate(agent, state, obs_size, act_size, batch_size, reps, timing)
    return out


def breakdown(cfg: ConfigDict, obs_size: int, act_size: int, num_envs: int, reps: int,
              timing: Timing) -> dict[str, dict]:
    """All parts for the algorithm named by `cfg.name` (times in ms per call)."""
    return parts_breakdown(cfg, obs_size, act_size, num_envs, reps, timing)
