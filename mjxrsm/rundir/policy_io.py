"""Load a trained policy from a run directory, without the trainer or the replay buffer.

    policy = mjxrsm.load_policy("runs/x")          # latest checkpoint; step=... for another
    action = policy(obs, jax.random.key(0))        # obs [obs_dim] or [N, obs_dim]; jittable

The networks are rebuilt from the run's `config.json`; only the agent's parameters and the
observation statistics are read from the Orbax checkpoint (a partial restore), so loading a run
whose checkpoints hold a 1M-transition buffer reads a few MB. The policy acts as the trainer's
evaluation does: deterministic (no exploration noise), with the network `algo.act_with` names,
on observations normalised with the run's statistics when `normalize_obs` was on, clipped to
[-1, 1]. Diffusion policies stay stochastic through `key` (best-of-N sampling), as in evaluation.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from ml_collections import ConfigDict

from mjxrsm.core.normalization import ObservedAgent, ObsStats
from mjxrsm.envs.options import env_kwargs

# A checkpoint of format 2 holds the agent and the observation statistics as named items
# (checkpoint.py), read here alone. One of format 1 is the flat list of TrainState leaves keyed by
# position: the agent is its first field and the statistics are followed by these four scalar
# leaves, so both are located without building the environment's or the buffer's layout.
_TRAILING_FIELDS = ("key", "env_steps", "iteration", "updates")


class PolicyLoadError(RuntimeError):
    """The run directory has no usable config or checkpoint for this policy."""


def load_config(run_dir: str | Path) -> ConfigDict:
    """The resolved config the run was started with (its `config.json`)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise PolicyLoadError(f"{path} not found: is {run_dir} a run directory?")
    return ConfigDict(json.loads(path.read_text()))


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """Completed checkpoint steps, oldest first. Orbax renames a step directory to its bare
    number only once it is fully written, so this is safe on a run still in progress."""
    ckpt = Path(run_dir) / "checkpoints"
    if not ckpt.is_dir():
        return []
    return sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity, so `jax.jit(policy)` works
class Policy:
    """A loaded policy: call it as `policy(obs, key) -> action` (jittable, batched or not)."""

    config: ConfigDict
    step: int
    observation_size: int
    action_size: int
    agent_state: Any
    obs_stats: ObsStats
    agent: ObservedAgent  # the run's agent behind its input layer (observation normalisation)

    def __call__(self, obs: jax.Array, key: jax.Array) -> jax.Array:
        obs = jnp.asarray(obs, jnp.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        action = jnp.clip(self.agent.act(self.agent_state, self.obs_stats, batch, key,
                                         deterministic=True), -1, 1)
        return action[0] if single else action


def _state_layout() -> None:
    """Fail loudly if TrainState's field order no longer matches what `_read` assumes."""
    from mjxrsm.core.trainer import TrainState

    names = [f.name for f in dataclasses.fields(TrainState)]
    if names[0] != "agent" or tuple(names[-5:]) != ("obs_stats", *_TRAILING_FIELDS):
        raise PolicyLoadError(f"TrainState layout changed ({names}); update policy_io.py")


def _read_item(step_dir: Path, name: str, template: Any) -> Any:
    """Item `name` of a format-2 checkpoint, restored into `template`'s structure."""
    from mjxrsm.rundir.checkpoint import _path_key, flatten_nested, named_leaves, nest

    wanted = named_leaves(template)
    handler = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
    stored = flatten_nested(handler.metadata(step_dir / name).item_metadata.tree)
    for k, leaf in wanted.items():
        if k not in stored or tuple(stored[k].shape) != tuple(leaf.shape):
            found = tuple(stored[k].shape) if k in stored else "missing"
            raise PolicyLoadError(
                f"checkpoint {step_dir} does not match the run's config ({name} "
                f"{'/'.join(k)}: expected {tuple(leaf.shape)}, found {found})")
    item = nest({k: np.zeros(v.shape, v.dtype) for k, v in wanted.items()})
    got = flatten_nested(handler.restore(step_dir / name, args=ocp.args.PyTreeRestore(
        item=item, restore_args=jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray),
                                             item))))
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    return jax.tree.unflatten(treedef, [jnp.asarray(got[_path_key(p)]) for p, _ in paths])


def _read(step_dir: Path, agent_template: Any, obs_size: int) -> tuple[Any, ObsStats]:
    """The agent and the observation statistics: two named items (format 2), or located by
    position in a format-1 checkpoint."""
    if not (step_dir / "state").is_dir():
        stats_template = ObsStats(*(jax.ShapeDtypeStruct(s, jnp.float32)
                                    for s in [(), (obs_size,), (obs_size,)]))
        return (_read_item(step_dir, "agent", agent_template),
                _read_item(step_dir, "obs_stats", stats_template))
    _state_layout()
    handler = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
    stored = handler.metadata(step_dir / "state").item_metadata.tree
    n_total = max(int(k) for k in stored) + 1
    agent_leaves, agent_def = jax.tree.flatten(agent_template)
    n_stats = 3  # count, mean, m2
    first_stat = n_total - len(_TRAILING_FIELDS) - n_stats
    wanted = {f"{i:05d}": leaf for i, leaf in enumerate(agent_leaves)}
    stats_shapes = [(), (obs_size,), (obs_size,)]
    for j, shape in enumerate(stats_shapes):
        wanted[f"{first_stat + j:05d}"] = jax.ShapeDtypeStruct(shape, jnp.float32)
    for k, leaf in wanted.items():
        if k not in stored or tuple(stored[k].shape) != tuple(leaf.shape):
            found = tuple(stored[k].shape) if k in stored else "missing"
            raise PolicyLoadError(
                f"checkpoint {step_dir} does not match the run's config (leaf {k}: expected "
                f"{tuple(leaf.shape)}, found {found})"
            )
    item = {k: np.zeros(v.shape, v.dtype) for k, v in wanted.items()}
    restore_args = {k: ocp.RestoreArgs(restore_type=np.ndarray) for k in item}
    got = handler.restore(
        step_dir / "state",
        args=ocp.args.PyTreeRestore(item=item, restore_args=restore_args, partial_restore=True),
    )
    agent = jax.tree.unflatten(
        agent_def, [jnp.asarray(got[f"{i:05d}"]) for i in range(len(agent_leaves))]
    )
    stats = ObsStats(*(jnp.asarray(got[f"{first_stat + j:05d}"]) for j in range(n_stats)))
    return agent, stats


def load_policy(run_dir: str | Path, step: int | None = None, stream: Any = None) -> Policy:
    """The policy of `run_dir` at checkpoint `step` (default: the latest one that reads back
    intact; a damaged later one is skipped with a warning on `stream`, stderr by default, and
    left where it is: loading never changes a run directory, which may still be training)."""
    from mjxrsm.agents import make_agent
    from mjxrsm.envs import make_env
    from mjxrsm.rundir.checkpoint import CheckpointError, check_files

    run_dir = Path(run_dir).resolve()  # Orbax reads item metadata only through absolute paths
    config = load_config(run_dir)
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise PolicyLoadError(f"no completed checkpoint in {run_dir / 'checkpoints'} yet")
    if step is not None and step not in steps:
        raise PolicyLoadError(f"no checkpoint at step {step} in {run_dir}; available: {steps}")
    env = make_env(config.env.name, **env_kwargs(config))
    obs_size, act_size = env.observation_size, env.action_size
    agent = make_agent(config.algo, obs_size, act_size)
    template = jax.eval_shape(agent.init, jax.random.PRNGKey(0))
    damaged: list[str] = []
    for candidate in [step] if step is not None else steps[::-1]:
        step_dir = run_dir / "checkpoints" / str(candidate)
        try:
            check_files(step_dir)
            agent_state, stats = _read(step_dir, template, obs_size)
        except PolicyLoadError:
            raise  # the run's config does not match its checkpoints: no fallback helps
        except (CheckpointError, OSError, ValueError, KeyError) as e:
            damaged.append(" ".join(f"{type(e).__name__}: {e}".split())[:300])
            continue
        if damaged:
            print(f"warning: skipped {len(damaged)} unreadable checkpoint(s) of {run_dir} "
                  f"({damaged[0]}); loaded step {candidate}", file=stream or sys.stderr)
        observed = ObservedAgent(agent, bool(config.normalize_obs))
        return Policy(config, candidate, obs_size, act_size, agent_state, stats, observed)
    raise PolicyLoadError(f"no readable checkpoint in {run_dir / 'checkpoints'}: "
                          + "; ".join(damaged))
