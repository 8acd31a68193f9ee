"""MP4 of an episode: MuJoCo's own renderer on the recorded joint states, written by mediapy.

Rendering is host-side C MuJoCo (`mujoco.Renderer`), so the episode is simulated on the run's
engine inside JAX, its `qpos`/`qvel` recorded, and each frame re-posed with `mj_forward`.
Headless machines need an OpenGL platform before MuJoCo is imported: `MUJOCO_GL=egl` (set by
default here when nothing is set) works on CPU with Mesa's EGL; `osmesa` needs libOSMesa, which
this machine lacks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


def mj_model_of(env: Any) -> Any | None:
    """The C MuJoCo model behind a raw task (Gymnasium-v5, Playground, Brax), or None (toy)."""
    return getattr(env, "mj_model", None)


def joint_state(env: Any, physics: Any) -> tuple[Any, Any]:
    """(qpos, qvel) of a raw task's physics state: through the task's engine for the
    Gymnasium-v5 ports (on `c` the state is float64 bits, not an `mjx.Data`), else an
    `mjx.Data` or a Brax (`pipeline_state`) or Playground (`data`) state holding one."""
    engine = getattr(env, "engine", None)
    if engine is not None:
        fields = engine.fields(physics)
        return fields.qpos, fields.qvel
    for field in ("pipeline_state", "data"):
        if hasattr(physics, field):
            physics = getattr(physics, field)
            break
    return physics.qpos, physics.qvel


def tracking_camera(mj_model: Any) -> Any:
    """A camera that follows the first body: locomotion tasks would otherwise run off screen."""
    import mujoco

    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    cam.trackbodyid = 1 if mj_model.nbody > 1 else 0
    cam.distance = 2.5 * float(mj_model.stat.extent)
    cam.elevation = -15.0
    cam.azimuth = 90.0
    return cam


def render(mj_model: Any, qpos: np.ndarray, qvel: np.ndarray, height: int = 240,
           width: int = 320, camera: Any = None) -> list[np.ndarray]:
    """RGB frames [H, W, 3] for the joint states qpos [T, nq], qvel [T, nv]; `camera` is a
    model camera's name/id or an `MjvCamera` (default: `tracking_camera`)."""
    import mujoco

    camera = tracking_camera(mj_model) if camera is None else camera
    data = mujoco.MjData(mj_model)
    frames = []
    with mujoco.Renderer(mj_model, height=height, width=width) as renderer:
        for q, v in zip(qpos, qvel, strict=True):
            data.qpos[:], data.qvel[:] = q, v
            mujoco.mj_forward(mj_model, data)
            renderer.update_scene(data, camera=camera)
            frames.append(renderer.render())
    return frames


def write_mp4(path: str | Path, frames: list[np.ndarray], fps: float) -> Path:
    """MP4 through mediapy; its ffmpeg is the system's if there is one, else the binary that the
    `imageio-ffmpeg` wheel ships (a fresh machine has no ffmpeg, and apt may not be at hand)."""
    import shutil

    import mediapy

    if shutil.which("ffmpeg") is None:
        import imageio_ffmpeg

        mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mediapy.write_video(str(path), frames, fps=fps)
    return path
