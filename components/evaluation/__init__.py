"""Model evaluation: the metrics of the task (binary, multiclass, regression) of a trained
model on a test split, as a KFP component.

Names are imported on first use (PEP 562): building and compiling a pipeline loads only the
component, not the metrics (numpy, pandas, scikit-learn), and importing
`vtp.components.evaluation.tasks` (the loader does, in its component process) loads neither
kfp nor the component.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["Evaluation", "Roc", "evaluate", "evaluate_model"]
_HOMES = {
    "evaluate_model": "vtp.components.evaluation.evaluate",
    "Evaluation": "vtp.components.evaluation.metrics",
    "Roc": "vtp.components.evaluation.metrics",
    "evaluate": "vtp.components.evaluation.metrics",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    # Loading the submodule `evaluate` binds it as this package's `evaluate`: unbind it, so the
    # name stays the function (loaded from the metrics on first use, not before).
    if isinstance(globals().get("evaluate"), types.ModuleType):
        del globals()["evaluate"]
    globals()[name] = value
    return value
