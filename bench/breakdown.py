"""Per-update cost breakdown: each part of one gradient update, jitted and timed on its own.

Why: the full update is one fused XLA program, so a profile of it says little about which
*algorithmic* part to make cheaper. Here each part runs alone inside a `lax.scan` whose carry
depends on the previous iteration (so XLA can neither hoist nor drop the work), on random data
of the real shapes (the cost of these networks does not depend on the values).

Diffusion agents (DPMD, SDAC):
  td_sampling    best-of-N reverse diffusion for the TD target: B*N chains of T denoiser calls,
                 then min-Q over the B*N candidates
  critic_step    target Q of (s', a'), TD loss, gradient and Adam step
  policy_step    the algorithm's own policy step (library code, forced to run): DPMD's weighted
                 DSM; SDAC's proposal best-of-N + K reverse candidates + B*K critic evaluations
  sdac_candidate_q  (SDAC only) the B*K candidate critic evaluations alone
  act            acting for `num_envs` states (best-of-N + exploration), once per vector step
  update         the complete `agent.update` (policy step every `policy_delay` updates)
SAC: next_action_sampling, critic_step, actor_step, act, update.

`amortised_sum` = sampling + critic + policy_step / policy_delay; `update - amortised_sum` is
what the parts leave out (targets, temperature, DPMD's second critic Adam step, glue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from bench.common import Timing, compile_timed, per_call, time_steady
from mjxrsm.replay import Transition


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


def diffusion_breakdown(cfg: ConfigDict, obs_size: int, act_size: int, num_envs: int,
                        reps: int, timing: Timing) -> dict[str, dict]:
    from mjxrsm.agents import dpmd, make_agent, sdac
    from mjxrsm.agents.base import adam_step, critic_loss_fn, td_target
    from mjxrsm.agents.diffusion_agent import StepContext, make_diffusion_policy, make_optimizers

    pol = make_diffusion_policy(cfg, obs_size, act_size)
    opts = make_optimizers(cfg)
    agent = make_agent(cfg, obs_size, act_size)
    state = jax.jit(agent.init)(jax.random.PRNGKey(0))
    batch = random_batch(jax.random.PRNGKey(1), (cfg.batch_size,), obs_size, act_size)
    n = cfg.num_particles
    a_next = jax.jit(lambda st, k: pol.best_of_n(st.policy, st.critic, batch.next_obs, k, n))(
        state, jax.random.PRNGKey(2))
    consts = {"state": state, "batch": batch, "a_next": a_next}
    out: dict[str, dict] = {}

    def sampling(c, carry):
        key, acc = carry
        key, k = jax.random.split(key)
        st = c["state"]
        a = pol.best_of_n(st.policy, st.critic, c["batch"].next_obs, k, n)
        return key, acc + _checksum(a)

    out["td_sampling"] = time_scanned(sampling, consts, (jax.random.PRNGKey(3), jnp.zeros(())),
                                      reps, timing)
    # Matmul work of best-of-N: B*N rows through T denoiser calls and the critic ensemble. The
    # achieved rate against the device's peak says how much a faster kernel could still give
    # (activations, e.g. mish's exp, come on top and are not counted).
    flop = 2.0 * cfg.batch_size * n * (cfg.diffusion_steps * dense_macs(state.policy)
                                       + dense_macs(state.critic))
    out["td_sampling"].update(
        gflop=flop / 1e9, matmul_gflop_per_s=flop / 1e9 / (out["td_sampling"]["ms"] / 1e3))

    def critic_step(c, carry):
        critic, opt = carry
        b = c["batch"]
        next_v = pol.q_min(c["state"].target_critic, b.next_obs, c["a_next"])
        y = td_target(b.reward, b.done, next_v, cfg.gamma, cfg.reward_scale)
        grads = jax.grad(
            lambda p: critic_loss_fn(pol.critic_net.apply, p, b.obs, b.action, y)[0]
        )(critic)
        return adam_step(opts.critic, grads, opt, critic)

    out["critic_step"] = time_scanned(critic_step, consts, (state.critic, state.critic_opt),
                                      reps, timing)

    factory = {"dpmd": dpmd.make_policy_step, "sdac": sdac.make_policy_step}[cfg.name]
    policy_step = factory(cfg, pol, opts, act_size)

    def pol_step(c, carry):
        st, key = carry
        key, k = jax.random.split(key)
        ctx = StepContext(jnp.exp(st.log_alpha), c["a_next"], st.critic, st.critic)
        policy, policy_opt, q_stats, _ = policy_step(st, c["batch"], ctx, jnp.bool_(True), k)
        return st.replace(policy=policy, policy_opt=policy_opt, q_stats=q_stats), key

    out["policy_step"] = time_scanned(pol_step, consts, (state, jax.random.PRNGKey(4)), reps,
                                      timing)

    if cfg.name == "sdac":
        k_cand = cfg.num_candidates

        def cand_q(c, carry):
            key, acc = carry
            key, k = jax.random.split(key)
            obs_rep = jnp.repeat(c["batch"].obs, k_cand, axis=0)
            acts = jax.random.uniform(k, (obs_rep.shape[0], act_size), minval=-1, maxval=1)
            return key, acc + _checksum(pol.q_min(c["state"].critic, obs_rep, acts))

        out["sdac_candidate_q"] = time_scanned(
            cand_q, consts, (jax.random.PRNGKey(5), jnp.zeros(())), reps, timing)

    out.update(_act_and_update(agent, state, obs_size, act_size, cfg.batch_size, num_envs, reps,
                               timing))
    delay = cfg.policy_delay
    amortised = (out["td_sampling"]["ms"] + out["critic_step"]["ms"]
                 + out["policy_step"]["ms"] / delay)
    out["amortised_sum"] = {"ms": amortised, "policy_delay": delay}
    return out


def sac_breakdown(cfg: ConfigDict, obs_size: int, act_size: int, num_envs: int, reps: int,
                  timing: Timing) -> dict[str, dict]:
    import optax

    from mjxrsm.agents import make_agent
    from mjxrsm.agents.base import adam_step, critic_loss_fn, td_target
    from mjxrsm.networks import CriticEnsemble, GaussianActor, tanh_gaussian_sample

    hidden = tuple(cfg.hidden)
    actor_net = GaussianActor(act_size, hidden, cfg.activation)
    critic_net = CriticEnsemble(cfg.num_critics, hidden, cfg.activation)
    actor_tx, critic_tx = optax.adam(cfg.lr), optax.adam(cfg.critic_lr)
    agent = make_agent(cfg, obs_size, act_size)
    state = jax.jit(agent.init)(jax.random.PRNGKey(0))
    batch = random_batch(jax.random.PRNGKey(1), (cfg.batch_size,), obs_size, act_size)

    def sample(actor, obs, key):
        return tanh_gaussian_sample(*actor_net.apply(actor, obs), key)

    a_next, logp_next = jax.jit(sample)(state.actor, batch.next_obs, jax.random.PRNGKey(2))
    consts = {"state": state, "batch": batch, "a_next": a_next, "logp_next": logp_next}
    out: dict[str, dict] = {}

    def sampling(c, carry):
        key, acc = carry
        key, k = jax.random.split(key)
        a, logp = sample(c["state"].actor, c["batch"].next_obs, k)
        return key, acc + _checksum(a) + _checksum(logp)

    out["next_action_sampling"] = time_scanned(
        sampling, consts, (jax.random.PRNGKey(3), jnp.zeros(())), reps, timing)

    def critic_step(c, carry):
        critic, opt = carry
        st, b = c["state"], c["batch"]
        alpha = jnp.exp(st.log_alpha)
        q_next = critic_net.apply(st.target_critic, b.next_obs, c["a_next"]).min(0)
        y = td_target(b.reward, b.done, q_next - alpha * c["logp_next"], cfg.gamma,
                      cfg.reward_scale)
        grads = jax.grad(
            lambda p: critic_loss_fn(critic_net.apply, p, b.obs, b.action, y)[0]
        )(critic)
        return adam_step(critic_tx, grads, opt, critic)

    out["critic_step"] = time_scanned(critic_step, consts, (state.critic, state.critic_opt),
                                      reps, timing)

    def actor_step(c, carry):
        actor, opt, key = carry
        key, k = jax.random.split(key)
        st, obs = c["state"], c["batch"].obs
        alpha = jnp.exp(st.log_alpha)

        def loss(p):
            a, logp = sample(p, obs, k)
            return jnp.mean(alpha * logp - critic_net.apply(st.critic, obs, a).min(0))

        actor, opt = adam_step(actor_tx, jax.grad(loss)(actor), opt, actor)
        return actor, opt, key

    out["actor_step"] = time_scanned(
        actor_step, consts, (state.actor, state.actor_opt, jax.random.PRNGKey(4)), reps, timing)
    out.update(_act_and_update(agent, state, obs_size, act_size, cfg.batch_size, num_envs, reps,
                               timing))
    amortised = (out["next_action_sampling"]["ms"] + out["critic_step"]["ms"]
                 + out["actor_step"]["ms"])
    out["amortised_sum"] = {"ms": amortised, "policy_delay": cfg.policy_delay}
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
    if cfg.name == "sac":
        return sac_breakdown(cfg, obs_size, act_size, num_envs, reps, timing)
    return diffusion_breakdown(cfg, obs_size, act_size, num_envs, reps, timing)
