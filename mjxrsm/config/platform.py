"""What JAX will run on, known without importing JAX (the CLI refuses bad input before loading
it): whether an accelerator may be present, and how many CPU devices a CPU-only JAX would see."""

from __future__ import annotations

import importlib.util
import os
import re

_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin", "libtpu",
                        "jax_plugins")


def may_have_accelerator() -> bool:
    """False when JAX can only be on the CPU (JAX_PLATFORMS=cpu, or no GPU/TPU plugin)."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms.split(",")[0] != "cpu"
    return any(importlib.util.find_spec(p) is not None for p in _ACCELERATOR_PLUGINS)


def cpu_device_count() -> int:
    """The CPU devices JAX will create: JAX_NUM_CPU_DEVICES, else XLA's
    --xla_force_host_platform_device_count, else 1."""
    if os.environ.get("JAX_NUM_CPU_DEVICES", "").strip().isdigit():
        return int(os.environ["JAX_NUM_CPU_DEVICES"])
    found = re.search(r"--xla_force_host_platform_device_count=(\d+)",
                      os.environ.get("XLA_FLAGS", ""))
    return int(found.group(1)) if found else 1
