"""mjxrsm: accelerator-resident online RL with diffusion policies (RSM: DPMD, SDAC) on MJX."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mjxrsm.policy_io import Policy


def load_policy(run_dir: Any, step: int | None = None, stream: Any = None) -> Policy:
    """A trained run's policy, `policy(obs, key) -> action` (see mjxrsm/policy_io.py). Imported
    lazily so that `import mjxrsm` stays cheap."""
    from mjxrsm.policy_io import load_policy as _load

    return _load(run_dir, step, stream)


__all__ = ["load_policy"]
