"""mjxrsm: accelerator-resident online RL with diffusion policies (RSM: DPMD, SDAC) on MJX."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# XLA's CPU scheduler deadlocks MJX's batched Cholesky at ~1000 envs on a 2-core machine (two
# pool threads each wait for work queued behind the other; docs/TROUBLESHOOTING.md). Turning the
# concurrency-optimised scheduler off avoids it; XLA reads the flag when its CPU backend starts,
# so it is set here, before any computation, unless the user chose otherwise.
_CPU_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"
if _CPU_SCHEDULER_FLAG not in os.environ.get("XLA_FLAGS", ""):
    _flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{_flags} {_CPU_SCHEDULER_FLAG}=false".strip()

if TYPE_CHECKING:
    from mjxrsm.rundir.policy_io import Policy


def load_policy(run_dir: Any, step: int | None = None, stream: Any = None) -> Policy:
    """A trained run's policy, `policy(obs, key) -> action` (see mjxrsm/rundir/policy_io.py).
    Imported
    lazily so that `import mjxrsm` stays cheap."""
    from mjxrsm.rundir.policy_io import load_policy as _load

    return _load(run_dir, step, stream)


__all__ = ["load_policy"]
