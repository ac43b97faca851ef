"""The two targets a pipeline is built for: Vertex AI, and its local twin.

Both are namespaces of ops with identical names and signatures (a contract test holds them
equal), so a pipeline factory `build(target)` compiles for one exactly when it compiles for
the other. Ops are imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A named set of ops: `target.CustomTrainingJobOp`, `target.ModelUploadOp`..."""

    name: str
    ops: dict[str, str] = field(repr=False)

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    def __getattr__(self, op: str):
        ops = object.__getattribute__(self, "ops")
        if op not in ops:
            raise AttributeError(f"target {self.name!r} has no op {op!r} (has: {', '.join(ops)})")
        module, attr = ops[op].split(":")
        return getattr(importlib.import_module(module), attr)

    def op_names(self) -> list[str]:
        return sorted(self.ops)

    @property
    def custom_job_from_component(self):
        """GCPC's `create_custom_training_job_from_component` for this target, its options
        checked at build time (`components.custom_jobs`). A factory of ops, not an op, so it
        stays out of `ops` and the interface contract."""
        from vtp.components import custom_jobs

        if self.is_local:
            return custom_jobs.LOCAL_CUSTOM_JOB_FROM_COMPONENT
        return custom_jobs.VERTEX_CUSTOM_JOB_FROM_COMPONENT


VERTEX = Target(
    "vertex",
    {
        "ChampionLookupOp": "vtp.components.models.champion_vertex:champion_lookup",
        "CustomTrainingJobOp": "google_cloud_pipeline_components.v1.custom_job:CustomTrainingJobOp",
        "GetTrialsOp": "vtp.components.tuning.get_trials:get_trials",
        # GCPC's op, loaded without the Vertex AI SDK its package imports (`_gcpc`)
        "HyperparameterTuningJobRunOp": "vtp.components._gcpc:HyperparameterTuningJobRunOp",
        "ModelUploadOp": "google_cloud_pipeline_components.v1.model:ModelUploadOp",
    },
)

LOCAL = Target(
    "local",
    {
        "ChampionLookupOp": "vtp.local.twins.champion_lookup:champion_lookup",
        "CustomTrainingJobOp": "vtp.local.twins.custom_job:custom_training_job",
        "GetTrialsOp": "vtp.local.twins.get_trials:get_trials",
        "HyperparameterTuningJobRunOp": "vtp.local.twins.tuning_job:hyperparameter_tuning_job",
        "ModelUploadOp": "vtp.local.twins.model_upload:model_upload",
    },
)

TARGETS = {t.name: t for t in (VERTEX, LOCAL)}
