"""Session set-up: a headless OpenGL platform for the video tests, chosen before any test module
imports MuJoCo (MuJoCo reads MUJOCO_GL once, at import)."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
