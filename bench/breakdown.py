"""Per-update cost breakdown: each part of one gradient update, jitted and timed on its own.

Why: the full update is one fused XLA program, so a profile of it says little about which
*algorithmic* part to make cheaper. Here each part runs alone inside a `lax.scan` whose carry
depends on the previous iteration (so XLA can neither hoist nor drop the work), on random data
of the real shapes (the cost of these networks does not depend on the values).

The parts are built here from the library's own functions that `update` composes (`next_action`,
`td_value`, `critic_step`, the algorithm's `policy_step`, ...), forced to run, so this times the
code that trains, never a copy; the library carries no hooks for it. Every agent has
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
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from bench.common import Timing, compile_timed, per_call, time_steady
from mjxrsm.agents import make_agent, sac
from mjxrsm.agents.base import critic_step, temperature_step
from mjxrsm.agents.diffusion_agent import (
    DiffusionAgentState,
    StepContext,
    diffusion_temperature_step,
    make_diffusion_policy,
    make_optimizers,
    next_action,
    td_value,
)
from mjxrsm.config.algorithms import get_algorithm
from mjxrsm.core.replay import Transition
from mjxrsm.models.policy import DiffusionPolicy

# One part of `update` on its own: (state, batch, key) -> (state with the part's own fields
# advanced, an output that depends on all its work, so that none of it can be dropped).
Part = Callable[[Any, Transition, jax.Array], tuple[Any, Any]]


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


def candidate_q_part(candidate_q: Callable, cfg: ConfigDict, pol: DiffusionPolicy,
                     act_size: int) -> Part:
    """SDAC's B*K candidate critic evaluations alone (most of its policy step's extra cost over
    DPMD's), on uniform candidates."""

    def part(state, batch, key):
        acts = jax.random.uniform(key, (batch.obs.shape[0], cfg.num_candidates, act_size),
                                  minval=-1.0, maxval=1.0)
        return state, candidate_q(pol, state.critic, batch.obs, acts)

    return part


# Sub-parts of a policy step also timed alone: the agent module's function of that name -> its
# part. Found by the function, so no algorithm is named here.
SUB_PARTS: dict[str, Callable[[Callable, ConfigDict, DiffusionPolicy, int], Part]] = {
    "candidate_q": candidate_q_part,
}


def diffusion_parts(cfg: ConfigDict, module: ModuleType, obs_size: int,
                    act_size: int) -> dict[str, Part]:
    """The parts of a diffusion agent's `update` (`make_diffusion_agent`), with the algorithm's
    own `policy_step` and, where it has one, its own `entropy_estimate` (the `entropy_fn` its
    `make_agent` passes), both module-level functions of its agent file. `critic_step` stands the
    batch's actions in for a', and `policy_step` them and their Q (zeros) for the particles:
    neither cost depends on the values."""
    pol = make_diffusion_policy(cfg, obs_size, act_size)
    opts = make_optimizers(cfg)
    policy_step = module.policy_step
    entropy_fn = getattr(module, "entropy_estimate", None)

    def td_sampling(state, batch, key):
        k_sample, k_noise = jax.random.split(key)
        alpha = jnp.exp(state.log_alpha)
        return state, next_action(cfg, pol, state, batch.next_obs, alpha, k_sample, k_noise).action

    def critic(state, batch, key):
        y = td_value(cfg, pol, state.target_critic, batch, batch.action)
        c = critic_step(pol.critic_net.apply, opts.critic, state.critic, state.critic_opt, batch, y)
        return state.replace(critic=c.params, critic_opt=c.opt_state), c.loss

    def policy(state, batch, key):
        particles = jnp.repeat(batch.action[:, None], cfg.num_particles, axis=1)
        ctx = StepContext(jnp.exp(state.log_alpha), batch.action, state.critic, state.critic,
                          particles, jnp.zeros(particles.shape[:2], batch.action.dtype))
        params, opt, q_stats, metrics = policy_step(
            cfg, pol, opts, state, batch, ctx, jnp.bool_(True), key
        )
        return state.replace(policy=params, policy_opt=opt, q_stats=q_stats), metrics

    def temperature(state, batch, key):
        # Step 0, so the step is taken on every call (`alpha_update_every`).
        log_alpha, alpha_opt, metrics = diffusion_temperature_step(
            cfg, pol, opts, state.replace(step=jnp.zeros_like(state.step)), batch, key,
            act_size, entropy_fn,
        )
        return state.replace(log_alpha=log_alpha, alpha_opt=alpha_opt), metrics

    parts = {"td_sampling": td_sampling, "critic_step": critic, "policy_step": policy,
             "temperature_step": temperature}
    for name, make_part in SUB_PARTS.items():
        fn = getattr(module, name, None)
        if fn is not None:
            parts[name] = make_part(fn, cfg, pol, act_size)
    return parts


def sac_parts(cfg: ConfigDict, module: ModuleType, obs_size: int,
              act_size: int) -> dict[str, Part]:
    """The parts of SAC's `update`, from mjxrsm/agents/sac.py's functions (`module` is that
    module; the signature is `PART_BUILDERS`'). `critic_step` stands the batch's
    actions and zero log-densities in for (a', log pi(a'|s')), and `temperature_step` minus the
    mean reward for the entropy: the costs do not depend on the values."""
    nets = sac.make_nets(cfg, act_size)
    opts = sac.make_optimizers(cfg)
    target_entropy = cfg.target_entropy_per_dim * act_size

    def td_sampling(state, batch, key):
        return state, sac.sample(nets, state.policy, batch.next_obs, key)

    def critic(state, batch, key):
        alpha = jnp.exp(state.log_alpha)
        y = sac.sac_td_value(cfg, nets, state.target_critic, batch, alpha, batch.action,
                             jnp.zeros_like(batch.reward))
        c = critic_step(nets.critic.apply, opts.critic, state.critic, state.critic_opt, batch, y)
        return state.replace(critic=c.params, critic_opt=c.opt_state), c.loss

    def policy(state, batch, key):
        params, opt, loss, _ = sac.sac_policy_step(nets, opts, state, state.critic, batch,
                                                   jnp.exp(state.log_alpha), jnp.bool_(True), key)
        return state.replace(policy=params, policy_opt=opt), loss

    def temperature(state, batch, key):
        entropy = -batch.reward.mean()
        log_alpha, alpha_opt = temperature_step(opts.alpha, state.log_alpha, state.alpha_opt,
                                                entropy, target_entropy)
        return state.replace(log_alpha=log_alpha, alpha_opt=alpha_opt), log_alpha

    return {"td_sampling": td_sampling, "critic_step": critic, "policy_step": policy,
            "temperature_step": temperature}


# How to take an agent apart, by the type of its state (which says whose `update` it is).
PART_BUILDERS: dict[type, Callable[[ConfigDict, ModuleType, int, int], dict[str, Part]]] = {
    DiffusionAgentState: diffusion_parts,
    sac.SACState: sac_parts,
}


def update_parts(cfg: ConfigDict, state: Any, obs_size: int, act_size: int) -> dict[str, Part]:
    """The parts of `update` for the algorithm named by `cfg.name`, whose agent state is `state`,
    in timing order."""
    builder = PART_BUILDERS.get(type(state))
    if builder is None:
        raise NotImplementedError(
            f"no breakdown for agent state {type(state).__name__} ({cfg.name}): add its parts to "
            "bench/breakdown.py: PART_BUILDERS")
    return builder(cfg, get_algorithm(cfg.name).agent_module, obs_size, act_size)


def parts_breakdown(cfg: ConfigDict, obs_size: int, act_size: int, num_envs: int, reps: int,
                    timing: Timing) -> dict[str, dict]:
    """Every part of `update` (`update_parts`) for the algorithm named by `cfg.name` (ms per
    call), then acting and the whole update."""
    agent = make_agent(cfg, obs_size, act_size)
    state = jax.jit(agent.init)(jax.random.PRNGKey(0))
    batch = random_batch(jax.random.PRNGKey(1), (cfg.batch_size,), obs_size, act_size)
    out: dict[str, dict] = {}
    for i, (name, part) in enumerate(update_parts(cfg, state, obs_size, act_size).items()):

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
