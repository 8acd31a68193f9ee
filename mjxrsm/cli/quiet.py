"""A quiet start: silence the third-party start-up lines a user cannot act on, at their source.

Each filter matches one known message exactly and lets everything else through, so warnings from
our own code (and new third-party ones) still show:
- MJX prints "Failed to import warp / mujoco_warp: ..." when importing `mujoco.mjx` without the
  optional Warp backend (we use its JAX implementation): we import it once with stdout captured
  and re-print any other line;
- Brax warns on every model load that its own pipelines are unmaintained (we use only its MJX
  task definitions): ignored by message and module;
- MuJoCo's compiler warns that Gymnasium's and DM Control's `half_cheetah`/`cheetah` XMLs use
  the deprecated `settotalmass` (and appends it to ./MUJOCO_LOG.TXT): our MuJoCo warning
  handler drops that message and turns every other MuJoCo warning into a Python warning.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings

_MJX_IMPORT_NOISE = ("Failed to import warp:", "Failed to import mujoco_warp:")
_BRAX_UNMAINTAINED = r"Brax System, piplines and environments are not actively being"
_MUJOCO_DEPRECATED_TOTALMASS = "compiler attribute 'settotalmass' is deprecated"

_done = False


def _mujoco_warning(message: str) -> None:
    if _MUJOCO_DEPRECATED_TOTALMASS in message:
        return
    warnings.warn(f"MuJoCo: {message.strip()}", RuntimeWarning, stacklevel=2)


def quiet_third_party() -> None:
    """Install the filters (idempotent). Call before the first import of `mujoco.mjx`."""
    global _done
    if _done:
        return
    _done = True
    warnings.filterwarnings("ignore", message=_BRAX_UNMAINTAINED, category=UserWarning,
                            module=r"brax\.io\.mjcf")
    import mujoco

    mujoco.set_mju_user_warning(_mujoco_warning)
    if "mujoco.mjx" in sys.modules:
        return
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        import mujoco.mjx  # noqa: F401
    for line in captured.getvalue().splitlines():
        if line and not line.startswith(_MJX_IMPORT_NOISE):
            print(line)
