"""What vtp ships: its pipelines (by name) and its reusable components."""

from __future__ import annotations

import importlib
from types import ModuleType

#: Pipeline name -> module with `NAME` and `build(target)`.
PIPELINES = {"training": "pipelines.training"}

#: Component name -> "module:attribute" of every reusable component, compiled to
#: `compiled/components/<name>.yaml`.
COMPONENTS = {
    "load_dataset": "components.data:load_dataset",
    "training_job_spec": "components.training:training_job_spec",
    "unmanaged_container_model": "components.training:unmanaged_container_model",
    "evaluate_model": "components.evaluation:evaluate_model",
    "metric_gate": "components.models.gate:metric_gate",
}


def pipeline_module(name: str) -> ModuleType:
    """The module of pipeline `name`; unknown names list the known ones."""
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline {name!r}; known: {', '.join(sorted(PIPELINES))}")
    return importlib.import_module(PIPELINES[name])


def component(name: str):
    module, attr = COMPONENTS[name].split(":")
    return getattr(importlib.import_module(module), attr)
