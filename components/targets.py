"""The ops vtp's pipelines use for Vertex resources, by name.

The pipelines are written once, for Vertex AI; `vtp run --local` runs their compiled YAML with
vtp's local orchestrator, which runs GCPC's launchers on local twins of Vertex
(docs/architecture.md). Ops are imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A named set of ops: `target.CustomTrainingJobOp`, `target.ModelUploadOp`..."""

    name: str
    ops: dict[str, str] = field(repr=False)

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
        """GCPC's `create_custom_training_job_from_component`, its options checked at build time
        (`components.custom_jobs`). A factory of ops, not an op."""
        from vtp.components.custom_jobs import custom_job_from_component

        return custom_job_from_component


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

TARGETS = {VERTEX.name: VERTEX}
