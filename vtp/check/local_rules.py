"""What vtp's local orchestrator would refuse in a compiled pipeline (`vtp check --local`).

These are the checks `vtp run FILE --local` makes before its first step
(`vtp.local.orchestrator.plan.survey`): a trigger condition that is not CEL of the form KFP
compiles, a GCPC launcher without a local twin, a container image with no local command and no
Docker engine, a `packages_to_install` entry that is not installed here, an unknown pipeline
placeholder, a `ParallelFor` item selector it cannot evaluate. A compiled component (no DAG at
its root) runs as a step of a pipeline and is not checked as one.
"""

from __future__ import annotations

from vtp.check.ir import PipelineIR
from vtp.check.report import Finding


def _is_component(ir: PipelineIR) -> bool:
    """A compiled component: its root DAG is the one task of the component it compiles."""
    tasks = ((ir.spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    name = (ir.spec.get("pipelineInfo") or {}).get("name", "")
    components = ir.spec.get("components") or {}
    return len(tasks) == 1 and len(components) == 1 and f"comp-{name}" in components


def local_findings(ir: PipelineIR, level: str) -> list[Finding]:
    """Every refusal of the local orchestrator for `ir`, each at `level`."""
    from vtp.local.orchestrator.ir import PipelineLoadError, load_pipeline
    from vtp.local.orchestrator.plan import survey

    if _is_component(ir):
        return []
    try:
        pipeline = load_pipeline(ir.path)
    except PipelineLoadError as err:
        return [Finding(level, "", f"the local orchestrator cannot load it: {err}")]
    _, problems = survey(pipeline)
    return [Finding(level, "", f"cannot run locally: {problem}") for problem in problems]
