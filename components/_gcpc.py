"""GCPC's `HyperparameterTuningJobRunOp`, without the Vertex AI SDK.

The op itself is a container component that needs only kfp, but importing it the usual way
(`google_cloud_pipeline_components.v1.hyperparameter_tuning_job`) runs that package's
`__init__`, which also imports its `utils` module and with it the whole
`google.cloud.aiplatform` SDK (about 2 s). Building, compiling and listing pipelines calls no
Vertex API, so this module loads the op's own module, `component.py`, and nothing else. When
the package is imported in full later in the same process, it reuses that module.
"""

from __future__ import annotations

import importlib
import sys
import types

_PACKAGE = "google_cloud_pipeline_components.v1.hyperparameter_tuning_job"


def _tuning_op():
    if _PACKAGE in sys.modules:  # already imported in full: use it
        return sys.modules[_PACKAGE].HyperparameterTuningJobRunOp
    parent = importlib.import_module(_PACKAGE.rsplit(".", 1)[0])  # ...v1: kfp only
    stand_in = types.ModuleType(_PACKAGE)
    stand_in.__path__ = [f"{parent.__path__[0]}/hyperparameter_tuning_job"]
    sys.modules[_PACKAGE] = stand_in
    try:
        component = importlib.import_module(f"{_PACKAGE}.component")
    finally:
        # The next `import` of the package runs its real __init__, which finds `component`
        # already loaded.
        del sys.modules[_PACKAGE]
    return component.hyperparameter_tuning_job


def __getattr__(name: str):
    if name == "HyperparameterTuningJobRunOp":
        return _tuning_op()
    raise AttributeError(name)
