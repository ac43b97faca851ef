"""What vtp ships: its pipelines (by name) and its reusable components."""

from __future__ import annotations

import importlib
from types import ModuleType

from vtp.errors import VtpError

#: Pipeline name -> module with `NAME` and `build()`.
PIPELINES = {
    "training": "vtp.pipelines.training",
    "tuning": "vtp.pipelines.tuning",
    "distributed": "vtp.pipelines.distributed",
}

#: Component name -> "module:attribute" of every reusable component, compiled to
#: `compiled/components/<name>.yaml`.
COMPONENTS = {
    "load_dataset": "vtp.components.data:load_dataset",
    "merge_datasets": "vtp.components.data.merge:merge_datasets",
    "get_best_trial": "vtp.components.tuning.ops:get_best_trial",
    "get_best_hyperparameters": "vtp.components.tuning.ops:get_best_hyperparameters",
    "get_worker_pool_specs": "vtp.components.tuning.ops:get_worker_pool_specs",
    "best_trial_model_dir": "vtp.components.tuning.ops:best_trial_model_dir",
    "is_metric_beyond_threshold": "vtp.components.tuning.ops:is_metric_beyond_threshold",
    "trials_report": "vtp.components.tuning.ops:trials_report",
    "get_trials": "vtp.components.tuning.get_trials:get_trials",
    "champion_lookup": "vtp.components.models.champion_vertex:champion_lookup",
    "champion_model": "vtp.components.models.champion_model:champion_model",
    "challenger_decision": "vtp.components.models.challenger_decision:challenger_decision",
    "decision_aliases": "vtp.components.models.challenger_decision:decision_aliases",
    "training_job_spec": "vtp.components.training:training_job_spec",
    "distributed_job_spec": "vtp.components.training.distributed_job_spec:distributed_job_spec",
    "unmanaged_container_model": "vtp.components.training:unmanaged_container_model",
    "checked_model_dir": "vtp.components.training.model_dir:checked_model_dir",
    "evaluate_model": "vtp.components.evaluation:evaluate_model",
    "metric_gate": "vtp.components.models.gate:metric_gate",
}


class UnknownPipeline(VtpError, KeyError):
    """A pipeline name that is not in the catalog."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def pipeline_module(name: str) -> ModuleType:
    """The module of pipeline `name`; unknown names list the known ones."""
    if name not in PIPELINES:
        raise UnknownPipeline(f"unknown pipeline {name!r}; known: {', '.join(sorted(PIPELINES))}")
    return importlib.import_module(PIPELINES[name])


def component(name: str):
    module, attr = COMPONENTS[name].split(":")
    return getattr(importlib.import_module(module), attr)
