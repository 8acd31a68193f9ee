"""Data parallelism: the 1-D device mesh and the few collectives the trainer and agents use.

The trainer runs its whole chunk as ONE `shard_map` (below) over a mesh with a single axis, `data`
(docs: README "Scaling out"; one device runs the same functions under plain `jit`, see
`on_mesh` in trainer.make_trainer). Each device steps `num_envs/n` environments, keeps a private
ring of `replay_capacity/n` rows and samples `batch_size/n` rows from it; everything else (agent,
optimiser states, temperature, running statistics, keys, counters) is replicated. Not plain
`jit` over sharded arrays: MJX's constraint solver is a `while_loop` under `vmap`, whose stopping
test would then become a cross-device all-reduce on every solver iteration, and sampling a
globally sharded buffer ends with the whole batch gathered on every device.

The trainer's map is traced with `check_vma=False` (`shard_map` below): MJX's solver carries
loop state that starts as a constant and becomes per-device data, and its `lax.cond`/`while_loop`
do not type-check under JAX's varying-manual-axes checks (nor can they be fixed from outside
MuJoCo). Inside such a map every value counts as device-local, so `data_mean` and friends reduce
every leaf they are given (a mean, min or max of a replicated value is that value), and the
replicas are kept equal by construction: every replicated update reads only reduced statistics
and the replicated keys (tests/test_sharding.py checks the replicas bit for bit). Under a
type-checked `jax.shard_map` (`check_vma=True`, as a user's own code may use) the helpers are
type driven instead: only leaves that vary over `data` are reduced. Outside any map nothing
varies, so the same agent and evaluator code computes exactly what it did without sharding.

`value_and_mean_grad` differentiates with respect to device-local copies of the parameters and
then takes one `pmean` of the gradient. In a type-checked map the cast matters: there the gradient
of a device-local loss with respect to *replicated* parameters is already summed over devices (the
transpose of the implicit broadcast is a `psum`), and a `pmean` on top would leave it n times too
large. In the trainer's untyped map the gradient is per device and the `pmean` averages it.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, Mesh

DATA = "data"  # the mesh axis name
# True while the body of an untyped (`check_vma=False`) shard_map over `data` is being traced.
_UNTYPED: contextvars.ContextVar[bool] = contextvars.ContextVar("mjxrsm_untyped", default=False)


def resolve_devices(requested: int) -> list[jax.Device]:
    """`mesh.devices`: 0 = every device (all hosts' under --multihost), k = the first k."""
    available = jax.devices()
    if requested < 0:
        raise ValueError(f"mesh.devices={requested} must be >= 0 (0 = all devices)")
    if requested == 0:
        return list(available)
    if jax.process_count() > 1 and requested != len(available):
        raise ValueError(
            f"mesh.devices={requested}: a multi-process run uses every device of every process "
            f"({len(available)}); pass --config.mesh.devices=0"
        )
    if requested > len(available):
        raise ValueError(
            f"mesh.devices={requested} but only {len(available)} device(s) are visible "
            f"({available[0].platform}); pass --config.mesh.devices=0 for all of them"
        )
    return list(available[:requested])


def initialize_multihost() -> None:
    """Join the other processes of a multi-host run (`--multihost`, before any JAX call).

    `jax.distributed.initialize()` detects SLURM, Open MPI, Kubernetes and Cloud TPU itself;
    elsewhere set JAX_COORDINATOR_ADDRESS (host:port of process 0) with JAX_NUM_PROCESSES and
    JAX_PROCESS_ID on every process."""
    kwargs = {}
    for var, arg in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        if os.environ.get(var):
            kwargs[arg] = int(os.environ[var])
    jax.distributed.initialize(**kwargs)


def make_mesh(devices: Sequence[jax.Device]) -> Mesh:
    """A 1-D mesh named `data` over `devices` (Auto axis type: inputs are resharded as needed)."""
    return jax.make_mesh((len(devices),), (DATA,), axis_types=(AxisType.Auto,), devices=devices)


def shard_map(fn: Callable, mesh: Mesh, in_specs: Any, out_specs: Any) -> Callable:
    """`jax.shard_map(fn, ..., check_vma=False)` whose body the helpers below know to be untyped
    (every value device-local): the trainer's map, so that MJX physics traces inside it."""

    def body(*args):
        token = _UNTYPED.set(True)
        try:
            return fn(*args)
        finally:
            _UNTYPED.reset(token)

    return jax.shard_map(body, mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                         check_vma=False)


# ----------------------------------------------------------------------------- inside the map


def axis_size() -> int:
    """Devices on the data axis at trace time; 1 outside a shard_map."""
    try:
        return jax.lax.axis_size(DATA)
    except NameError:
        return 1


def _bound() -> bool:
    try:
        jax.lax.axis_size(DATA)
    except NameError:
        return False
    return True


def is_local(x: Any) -> bool:
    """Whether `x` is device-local (varies over the data axis) in the current trace: every value
    inside the trainer's untyped map, the values typed as varying inside a type-checked one."""
    if _UNTYPED.get() and _bound():
        return True
    aval = jax.typeof(x)
    return DATA in getattr(getattr(aval, "mat", None), "varying", ())


def _reduce(op: Callable, tree: Any) -> Any:
    """Apply collective `op` to the device-local leaves of `tree`, packed into one vector per
    dtype: one all-reduce per call however many leaves (a gradient tree, a metrics dict).
    Replicated leaves of a type-checked map pass through untouched (a reduction would change
    nothing but cost one)."""
    leaves, treedef = jax.tree.flatten(tree)
    groups: dict[Any, list[int]] = {}
    for i, x in enumerate(leaves):
        if is_local(x):
            groups.setdefault(jnp.result_type(x), []).append(i)
    for idx in groups.values():
        packed = op(jnp.concatenate([jnp.ravel(leaves[i]) for i in idx]), DATA)
        start = 0
        for i in idx:
            size = leaves[i].size
            leaves[i] = packed[start:start + size].reshape(leaves[i].shape)
            start += size
    return jax.tree.unflatten(treedef, leaves)


def data_mean(tree: Any) -> Any:
    """Mean over devices of each device-local leaf (equal-sized shards: the global mean)."""
    return _reduce(jax.lax.pmean, tree)


def data_sum(tree: Any) -> Any:
    """Sum over devices of per-device partial sums (never of a replicated value: under the
    trainer's untyped map that would count it n times)."""
    return _reduce(jax.lax.psum, tree)


def data_min(tree: Any) -> Any:
    return _reduce(jax.lax.pmin, tree)


def data_max(tree: Any) -> Any:
    return _reduce(jax.lax.pmax, tree)


def batch_mean(x: jax.Array) -> jax.Array:
    """Mean of all elements of a batch sharded over devices (each device holds an equal part)."""
    return data_mean(x.mean())


def batch_std(x: jax.Array, mean: jax.Array | None = None) -> jax.Array:
    """Population std of a batch sharded over devices: the global mean first (pass `mean` if
    it is at hand), then the mean squared deviation from it (`jnp.std`'s two passes)."""
    if not is_local(x):
        return x.std()
    m = batch_mean(x) if mean is None else mean
    return jnp.sqrt(data_mean(jnp.var(x, mean=m)))


def device_index() -> jax.Array:
    """This device's position on the data axis (0 outside a shard_map)."""
    return jax.lax.axis_index(DATA) if _bound() else jnp.zeros((), jnp.int32)


def local_rows(x: jax.Array) -> jax.Array:
    """This device's block of a global array's leading axis (all of it outside a shard_map).

    Used for quantities drawn per global index (env reset keys, warm-up actions), so that they
    are the same whatever the device count."""
    n = axis_size()
    if n == 1:
        return as_local(x)
    if x.shape[0] % n:
        raise ValueError(f"leading axis {x.shape[0]} does not split over {n} devices")
    rows = x.shape[0] // n
    return jax.lax.dynamic_slice_in_dim(x, device_index() * rows, rows, axis=0)


def device_key(key: jax.Array) -> jax.Array:
    """A random stream of this device's own: device 0 keeps `key` (so one device reproduces the
    unsharded trainer bit for bit), device d > 0 uses `fold_in(key, d)`."""
    if not _bound():
        return key
    i = device_index()
    return jnp.where(i == 0, key, jax.random.fold_in(key, i))


def as_local(tree: Any) -> Any:
    """Mark every leaf of a per-device tree as device-local (a type cast, no data movement):
    e.g. env-state leaves a step sets to constants must keep the type of the scan carry."""
    if not _bound() or _UNTYPED.get():
        return tree
    return jax.tree.map(
        lambda x: x if is_local(x) else jax.lax.pcast(x, DATA, to="varying"), tree
    )


def value_and_mean_grad(fn: Callable, has_aux: bool = False) -> Callable:
    """`jax.value_and_grad(fn, has_aux)` whose gradient is averaged over devices.

    Inside the trainer's shard_map the parameters are made device-local before differentiating
    (see the module docstring for why), then the gradient tree gets one `pmean`. The value (and
    aux) stay device-local; outside a shard_map this is `jax.value_and_grad` exactly."""
    vg = jax.value_and_grad(fn, has_aux=has_aux)

    def wrapped(params, *args, **kwargs):
        if not _bound():
            return vg(params, *args, **kwargs)
        value, grads = vg(as_local(params), *args, **kwargs)
        return value, data_mean(grads)

    return wrapped


def zeros_like_type(s: jax.ShapeDtypeStruct) -> jax.Array:
    """Zeros of `s`'s shape and dtype that vary over the same mesh axes as the value `s`
    describes (`jax.eval_shape` records them), e.g. for the skipped branch of a `lax.cond`."""
    z = jnp.zeros(s.shape, s.dtype)
    mat = getattr(s, "manual_axis_type", None)
    varying = tuple(sorted(getattr(mat, "varying", ()) or ()))
    return jax.lax.pcast(z, varying, to="varying") if varying else z
