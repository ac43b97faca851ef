"""vtp's local orchestrator of compiled KFP v2 pipelines (the IR YAML Vertex AI runs).

`load_pipeline` reads the file (`ir`), `make_plan` chooses what runs each task and refuses
what cannot run here (`plan`, `executors`, `launchers`), `run_plan` runs it (`runner`,
`scheduler`) and returns its record (`records`). See docs/architecture.md, "The local
orchestrator".
"""

from vtp.local.orchestrator.executors import Refusal
from vtp.local.orchestrator.ir import PipelineIR, PipelineLoadError, load_pipeline
from vtp.local.orchestrator.plan import Plan, make_plan
from vtp.local.orchestrator.records import RunRecord, TaskRecord
from vtp.local.orchestrator.runner import RunSettings, default_parallelism, run_plan

__all__ = [
    "PipelineIR",
    "PipelineLoadError",
    "Plan",
    "Refusal",
    "RunRecord",
    "RunSettings",
    "TaskRecord",
    "default_parallelism",
    "load_pipeline",
    "make_plan",
    "run_plan",
]
