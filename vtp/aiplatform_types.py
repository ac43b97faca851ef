"""`google.cloud.aiplatform_v1`'s message types, without its service clients.

Validating a payload needs only the API's message types (`CustomJob`, `StudySpec`, ...), but
`import google.cloud.aiplatform_v1` also imports every service client of the API: about three
times the cost of the types alone. The package's `__init__` is deferred
(`vtp.package_init.defer_init`) until something asks for a client.
"""

from __future__ import annotations

import importlib
import types

from vtp.package_init import defer_init

PACKAGE = "google.cloud.aiplatform_v1"


def aiplatform_types() -> types.ModuleType:
    """`google.cloud.aiplatform_v1.types`, importing no service client."""
    defer_init(PACKAGE)
    return importlib.import_module(f"{PACKAGE}.types")


def message(name: str) -> type:
    """The proto-plus message class `aiplatform_v1.<name>`, e.g. `CustomJob`."""
    return getattr(aiplatform_types(), name)
