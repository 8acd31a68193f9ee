"""Multi-device measurements for tests/test_sharding.py, run in a subprocess with 4 CPU devices
(the device count is fixed when JAX starts):
    JAX_NUM_CPU_DEVICES=4 python tests/sharding_checks.py

One process, several checks, so the compilations are paid once. Prints one JSON object of
measured values (differences, counts, flags); the tests assert on them with their own messages.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers_runs import tiny_config  # noqa: E402

from mjxrsm.agents.base import critic_step, temperature_step  # noqa: E402
from mjxrsm.agents.diffusion_agent import policy_grad_step  # noqa: E402
from mjxrsm.core import sharding  # noqa: E402
from mjxrsm.core.normalization import ObsStats  # noqa: E402
from mjxrsm.core.replay import Transition  # noqa: E402
from mjxrsm.core.trainer import make_trainer  # noqa: E402
from mjxrsm.models.networks import CriticEnsemble  # noqa: E402
from mjxrsm.models.rsm import RunningStats  # noqa: E402
from mjxrsm.rundir.checkpoint import Checkpointer, CheckpointError  # noqa: E402

N = 4


def max_diff(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def max_rel(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))
                            / (np.abs(np.asarray(y, np.float64)) + 1e-6)))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def update_equivalence(mesh) -> dict:
    """The shared update helpers on one global batch: on 1 device vs split over N devices."""
    obs_size, act_size, batch = 5, 2, 32
    ks = jax.random.split(jax.random.PRNGKey(1), 6)
    data = Transition(
        obs=jax.random.normal(ks[0], (batch, obs_size)),
        action=jax.random.uniform(ks[1], (batch, act_size), minval=-1, maxval=1),
        reward=jax.random.normal(ks[2], (batch,)),
        next_obs=jax.random.normal(ks[3], (batch, obs_size)),
        done=jnp.zeros((batch,)),
    )
    y = jax.random.normal(ks[4], (batch,))
    net = CriticEnsemble(2, (16, 16), "relu")
    params = net.init(ks[5], data.obs[:1], data.action[:1])
    opt = optax.adam(1e-2)

    def step(params, data, y):
        """critic_step, a policy_grad_step (a critic-weighted regression towards the batch's
        actions), the temperature step on a batch entropy estimate, and the batch statistics."""
        c = critic_step(net.apply, opt, params, opt.init(params), data, y)
        w = jnp.exp(-jnp.square(data.reward))

        def loss_fn(p):
            q = net.apply(p, data.obs, data.action).min(0)
            return jnp.mean(w * jnp.square(q - data.reward)), {}

        pol, pol_opt, pm = policy_grad_step(jnp.bool_(True), loss_fn, opt, params, opt.init(params))
        la, la_opt = temperature_step(opt, jnp.zeros(()), opt.init(jnp.zeros(())),
                                      -data.reward.mean(), -2.0)
        q_stats = RunningStats.init().update(c.q.min(0), 0.5)
        obs_stats = ObsStats.init(obs_size).update(data.obs)
        return {"critic_grads": c.grads, "critic_params": c.params, "critic_adam": c.opt_state,
                "policy_params": pol, "policy_adam": pol_opt,
                "grad_norm": pm["policy/grad_norm"].value,
                "log_alpha": la, "alpha_adam": la_opt, "q_stats": q_stats, "obs_stats": obs_stats}

    one = jax.jit(step)(params, data, y)
    specs = dict(mesh=mesh, in_specs=(P(), P(sharding.DATA), P(sharding.DATA)), out_specs=P())
    many = jax.jit(jax.shard_map(step, **specs))(params, data, y)  # type-checked (check_vma)
    untyped = jax.jit(sharding.shard_map(step, **specs))(params, data, y)  # the trainer's map

    def naive(params, data, y):  # the trap: pmean after jax.grad of replicated params
        g = jax.grad(lambda p: jnp.square(net.apply(p, data.obs, data.action) - y).mean(1).sum())(
            params)
        return jax.lax.pmean(g, sharding.DATA)

    naive_g = jax.jit(jax.shard_map(naive, mesh=mesh, in_specs=(P(), P(sharding.DATA),
                                                                P(sharding.DATA)), out_specs=P()))(
        params, data, y)
    ratio = float(optax.global_norm(naive_g) / optax.global_norm(one["critic_grads"]))
    return {
        "diff": {k: max_diff(many[k], one[k]) for k in one},
        "rel": {k: max_rel(many[k], one[k]) for k in one},
        "untyped_diff": {k: max_diff(untyped[k], one[k]) for k in one},
        "untyped_rel": {k: max_rel(untyped[k], one[k]) for k in one},
        "naive_grad_ratio": ratio,
        "grad_norm": float(one["grad_norm"]),
    }


def replicated_equal(x) -> bool:
    shards = [np.asarray(s.data) for s in x.addressable_shards]
    return all(np.array_equal(shards[0], s, equal_nan=True) for s in shards[1:])


def layout_report(trainer, state) -> dict:
    wrong, unequal, n_rep, n_split = [], [], 0, 0
    paths = jax.tree_util.tree_flatten_with_path(state)[0]
    shardings = jax.tree.leaves(trainer.shardings(), is_leaf=lambda s: isinstance(s, NamedSharding))
    for (path, x), want in zip(paths, shardings, strict=True):
        name = jax.tree_util.keystr(path)
        if x.size == 0:  # no data to place (MJX's unused fields): JAX lays them out replicated
            continue
        if not x.sharding.is_equivalent_to(want, x.ndim):
            wrong.append(f"{name}: {x.sharding} != {want}")
        if want.spec == P():
            n_rep += 1
            if not replicated_equal(x):
                unequal.append(name)
        else:
            n_split += 1
    return {"wrong_sharding": wrong, "replicated_unequal": unequal, "replicated_leaves": n_rep,
            "split_leaves": n_split}


def collectives(text: str) -> dict:
    """Collective ops in compiled HLO text (XLA may have combined several into one)."""
    ops = ("all-reduce", "all-gather", "all-to-all", "collective-permute", "reduce-scatter")
    return {op: len(re.findall(rf"\b{op}(?:-start)?\(", text)) for op in ops}


def jaxpr_collectives(jaxpr) -> dict:
    """Collective equations in a jaxpr and every jaxpr nested in it (scan, cond, while,
    shard_map bodies), each counted once: the reductions the program was written with."""
    counts: dict[str, int] = {}

    def walk(jx):
        for eqn in jx.eqns:
            name = eqn.primitive.name
            if name.startswith(("psum", "pmin", "pmax", "all_gather", "all_to_all", "ppermute",
                                "reduce_scatter", "pbroadcast")):
                counts[name] = counts.get(name, 0) + 1
            for v in eqn.params.values():
                for sub in v if isinstance(v, (list, tuple)) else (v,):
                    if hasattr(sub, "jaxpr") and hasattr(sub.jaxpr, "eqns"):
                        walk(sub.jaxpr)
                    elif hasattr(sub, "eqns"):
                        walk(sub)

    walk(jaxpr.jaxpr)
    return counts


def trainer_checks() -> dict:
    out = {}
    c = tiny_config("dpmd")
    c.mesh.devices = N
    c.normalize_obs = True
    c.eval_episodes = N
    tr = make_trainer(c)
    s = tr.init(jax.random.PRNGKey(3))
    out["after_init"] = layout_report(tr, s)
    s, _ = tr.warmup_chunk(s)
    out["jaxpr_collectives"] = jaxpr_collectives(jax.make_jaxpr(tr.train_chunk)(s))
    out["compiled_collectives"] = collectives(tr.train_chunk.lower(s).compile().as_text())
    s, m = tr.train_chunk(s)
    out["after_chunk"] = layout_report(tr, s)
    out["metrics_finite"] = all(np.isfinite(float(v)) for v in m.values())
    ev = tr.evaluate(s, jax.random.PRNGKey(7))
    out["eval_finite"] = all(np.isfinite(float(v)) for v in ev.values())
    out["counters"] = [int(s.env_steps), int(s.updates), int(s.buffer.size)]
    out["obs_count"] = float(s.obs_stats.count)

    # The same warm-up on one device: identical resets, rows and statistics whatever n.
    c1 = tiny_config("dpmd")
    c1.normalize_obs = True
    tr1 = make_trainer(c1)
    s1, _ = tr1.warmup_chunk(tr1.init(jax.random.PRNGKey(3)))
    s4, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(3)))
    out["warmup_env_diff"] = max_diff(s4.env, s1.env)
    out["warmup_obs_stats_diff"] = max_diff(s4.obs_stats, s1.obs_stats)
    out["warmup_agent_equal"] = max_diff(s4.agent, s1.agent) == 0.0

    def rows(state, n):
        """Buffer rows in (step, global env) order: device d's ring holds envs d*E/n.."""
        e = c.num_envs // n
        size = int(state.buffer.size)  # rows in each device's ring
        x = np.asarray(state.buffer.data.obs)
        blocks = x.reshape(n, -1, x.shape[-1])[:, :size]  # [n, steps*e, o]
        blocks = blocks.reshape(n, size // e, e, -1).transpose(1, 0, 2, 3)
        return blocks.reshape(size // e * c.num_envs, -1)

    out["warmup_rows_diff"] = float(np.max(np.abs(rows(s4, N) - rows(s1, 1))))

    # Checkpoint round trip of the sharded state; a buffer of 4 rings refused on 1 device.
    with tempfile.TemporaryDirectory() as d:
        ckpt = Checkpointer(Path(d))
        ckpt.save(16, s)
        back, meta = ckpt.restore(tr.init(jax.random.PRNGKey(0)))
        out["ckpt_devices_meta"] = meta["devices"]
        out["ckpt_roundtrip_diff"] = max_diff(back, s)
        out["ckpt_restored_layout"] = layout_report(tr, back)
        try:
            ckpt.restore(tr1.init(jax.random.PRNGKey(0)))
            out["ckpt_other_mesh_error"] = None
        except CheckpointError as e:
            out["ckpt_other_mesh_error"] = str(e)
        ckpt.close()
    return out


def resume_checks(tmp: Path) -> dict:
    """2 chunks == 1 chunk + resume + 1 chunk, through train.run on 4 devices; then a resume on
    2 devices is refused (the checkpoint holds 4 rings)."""
    from mjxrsm.train import run

    c = tiny_config("sac")
    c.mesh.devices, c.eval_episodes = N, N
    a, b = tmp / "a", tmp / "b"
    run(c, a, max_chunks=2)
    run(c, b, max_chunks=1)
    run(c, b, resume=True, max_chunks=1)
    template = make_trainer(c).init(jax.random.PRNGKey(0))
    sa, _ = Checkpointer(a / "checkpoints").restore(template)
    sb, meta = Checkpointer(b / "checkpoints").restore(template)
    strip = lambda p: [r.split(",", 2)[::2] for r in p.read_text().splitlines()]  # noqa: E731
    out = {"resume_diff": max_diff(sa, sb), "resume_step": meta["step"],
           "resume_csv_equal": strip(a / "train.csv") == strip(b / "train.csv")}
    c.mesh.devices = 2
    try:
        run(c, b, resume=True, max_chunks=1)
        out["other_mesh_error"] = None
    except CheckpointError as e:
        out["other_mesh_error"] = str(e)
    return out


def mjx_checks() -> dict:
    """A task on MJX physics (its constraint solver's loops start from constants) through
    init, warm-up, one training chunk and an evaluation on the mesh: finite, replicas equal."""
    c = tiny_config("sac", env="inverted_pendulum")
    c.mesh.devices = N
    c.eval_episodes = N
    tr = make_trainer(c)
    s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
    s, m = tr.train_chunk(s)
    ev = tr.evaluate(s, jax.random.PRNGKey(1))
    return {"mjx_layout": layout_report(tr, s),
            "mjx_finite": all(np.isfinite(float(v)) for v in {**m, **ev}.values()),
            "mjx_counters": [int(s.env_steps), int(s.updates)]}


def c_engine_checks() -> dict:
    """A Gymnasium task on the C engine (one host callback per device shard): warm-up on 4
    devices leaves every env's physics bitwise equal to the same warm-up on 1 device; a chunk
    and an evaluation run with replicas equal."""
    out = {}
    states = {}
    for n in (1, N):
        c = tiny_config("sac", env="Hopper-v5")
        c.env.impl = "c"
        c.mesh.devices = n
        c.eval_episodes = N
        tr = make_trainer(c)
        s, _ = tr.warmup_chunk(tr.init(jax.random.PRNGKey(0)))
        states[n] = np.asarray(s.env.physics.state)
        if n == N:
            s, m = tr.train_chunk(s)
            ev = tr.evaluate(s, jax.random.PRNGKey(1))
            out["c_layout"] = layout_report(tr, s)
            out["c_finite"] = all(np.isfinite(float(v)) for v in {**m, **ev}.values())
    out["c_warmup_physics_equal"] = bool(np.array_equal(states[1], states[N]))
    return out


def main() -> None:
    assert len(jax.devices()) == N, f"need {N} devices, got {jax.devices()}"
    if sys.argv[1:2] == ["resume"]:
        result = resume_checks(Path(sys.argv[2]))
    else:
        mesh = sharding.make_mesh(jax.devices())
        result = {"update": update_equivalence(mesh), **trainer_checks(), **mjx_checks(),
                  **c_engine_checks()}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
