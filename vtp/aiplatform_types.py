"""`google.cloud.aiplatform_v1`'s message types, without its service clients.

Validating a payload needs only the API's message types (`CustomJob`, `StudySpec`, ...), but
`import google.cloud.aiplatform_v1` runs a package `__init__` that also imports every service
client of the API: about three times the cost of the types alone. `aiplatform_types()` imports
the types and leaves the package's `__init__` for later: the package module stands in
`sys.modules` with its `__path__` and `types`, and the first time anything asks it for a name
it does not hold yet (`aiplatform_v1.JobServiceClient`, as the Vertex AI SDK does), it runs
its `__init__` in place and answers (a submodule it is asked for is simply imported). Code that
imports the full package keeps working unchanged.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

PACKAGE = "google.cloud.aiplatform_v1"


class _PendingInit(types.ModuleType):
    """A package whose `__init__` has not run: the first missing attribute runs it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # probes of the import system and of tools
            raise AttributeError(name)
        submodule = f"{self.__name__}.{name}"
        if importlib.util.find_spec(submodule) is not None:  # e.g. `gapic_version`, `services`
            return importlib.import_module(submodule)
        self.__class__ = types.ModuleType  # once: no recursion while __init__ runs
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def aiplatform_types() -> types.ModuleType:
    """`google.cloud.aiplatform_v1.types`, importing no service client."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.find_spec(PACKAGE)
        package = importlib.util.module_from_spec(spec)
        package.__class__ = _PendingInit
        sys.modules[PACKAGE] = package
        importlib.import_module("google.cloud").aiplatform_v1 = package
    return importlib.import_module(f"{PACKAGE}.types")


def message(name: str) -> type:
    """The proto-plus message class `aiplatform_v1.<name>`, e.g. `CustomJob`."""
    return getattr(aiplatform_types(), name)
