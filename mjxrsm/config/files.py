"""The config files (`configs/` beside this package) found by path, not as an installed package.

Users type `--config=configs/train.py:ENV,ALGO`, so the config files live at the repository's top
level; the library reads them from there (`configs_dir()`), and nothing named `configs` needs to
be installed into site-packages, where the name could clash with another project's. The files are
imported under their own name (`configs.train`, `configs.algos.dpmd`), so a test or a benchmark
that imports them directly gets the same module objects.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = "configs"


def configs_dir() -> Path:
    """`$MJXRSM_CONFIGS` if set, else `configs/` in the source tree this package is in."""
    override = os.environ.get("MJXRSM_CONFIGS")
    return Path(override) if override else Path(__file__).resolve().parents[2] / PACKAGE


def configs_package() -> ModuleType:
    """The `configs` package of `configs_dir()`, imported by path once."""
    where = configs_dir()
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None:
        paths = [Path(p).resolve() for p in getattr(loaded, "__path__", [])]
        if where.resolve() not in paths:
            raise ImportError(f"a module named {PACKAGE!r} from {paths or loaded} is already "
                              f"imported; mjxrsm reads its configs from {where}")
        return loaded
    init = where / "__init__.py"
    if not init.is_file():
        raise ImportError(f"mjxrsm's config files are not at {where}: run from a source checkout "
                          "(make install) or set MJXRSM_CONFIGS to the configs/ directory")
    spec = importlib.util.spec_from_file_location(PACKAGE, init,
                                                  submodule_search_locations=[str(where)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    return module


def config_module(name: str) -> ModuleType:
    """`configs/<name>.py` (dotted: `algos.dpmd`) as a module."""
    configs_package()
    return importlib.import_module(f"{PACKAGE}.{name}")
