"""Importing a package's submodules without running the package's `__init__` first.

Some packages' `__init__` imports far more than the submodule asked for:
`google.cloud.aiplatform_v1` imports every service client of the API (about three times the
cost of its message types), `kfp` imports its client and the Kubernetes library (0.2 s) to
read one `PipelineSpec` message. `defer_init(package)` puts the package module in
`sys.modules` with its `__path__` and leaves its `__init__` for later: the first time anything
asks the package for a name it does not hold yet (`aiplatform_v1.JobServiceClient`,
`kfp.__version__`), the `__init__` runs in place and answers (a submodule it is asked for is
simply imported). Code that imports the full package keeps working unchanged.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

#: Dunder names that are a package's own attributes (set by its `__init__`); other dunder
#: names are probes of the import system and of tools, answered without running it.
_PACKAGE_DUNDERS = frozenset({"__version__", "__all__"})


class _PendingInit(types.ModuleType):
    """A package whose `__init__` has not run: the first missing attribute runs it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name not in _PACKAGE_DUNDERS:
            raise AttributeError(name)
        submodule = f"{self.__name__}.{name}"
        if importlib.util.find_spec(submodule) is not None:  # e.g. `gapic_version`, `dsl`
            return importlib.import_module(submodule)
        self.__class__ = types.ModuleType  # once: no recursion while __init__ runs
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def defer_init(package: str) -> None:
    """Makes `package` importable from without running its `__init__` (nothing when it is
    imported already)."""
    if package in sys.modules:
        return
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _PendingInit
    sys.modules[package] = module
    parent, _, name = package.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), name, module)
