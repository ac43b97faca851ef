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
import pkgutil
import sys
import threading
import types
from typing import Any

#: Dunder names that are a package's own attributes (set by its `__init__`); other dunder
#: names are probes of the import system and of tools, answered without running it.
_PACKAGE_DUNDERS = frozenset({"__version__", "__all__"})


#: One `__init__` runs at a time; a thread asking meanwhile waits for it to finish.
_LOCK = threading.RLock()
_RUNNING = "__vtp_init_running__"


class _PendingInit(types.ModuleType):
    """A package whose `__init__` has not run: the first missing attribute runs it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name not in _PACKAGE_DUNDERS:
            raise AttributeError(name)
        with _LOCK:
            if name in self.__dict__:  # set by an `__init__` that ran while this thread waited
                return self.__dict__[name]
            submodule = f"{self.__name__}.{name}"
            if importlib.util.find_spec(submodule) is not None:  # e.g. `gapic_version`, `dsl`
                return importlib.import_module(submodule)
            if type(self) is not _PendingInit or self.__dict__.get(_RUNNING):
                raise AttributeError(  # asked by the `__init__` itself, as of any module
                    f"module {self.__name__!r} has no attribute {name!r}"
                )
            self.__dict__[_RUNNING] = True
            try:
                self.__spec__.loader.exec_module(self)
            finally:
                del self.__dict__[_RUNNING]
            self.__class__ = types.ModuleType  # whole now: attributes are plain lookups
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
    # what a namespace-style `__init__` (kfp's) does first: other `sys.path` entries' parts
    module.__path__ = pkgutil.extend_path(list(module.__path__), package)
    module.__class__ = _PendingInit
    sys.modules[package] = module
    parent, _, name = package.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), name, module)
