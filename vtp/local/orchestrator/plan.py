"""Everything the orchestrator checks before the first step: what runs each task, and what
it refuses (each refusal names the task or component and what would make it runnable).

Refused before the run:
- a GCPC launcher without a local twin, an image neither mapped to a local command nor
  runnable with a Docker engine (a container component's, or a custom or tuning job's worker
  pool image given as a constant), a `packages_to_install` entry that is not installed;
- a trigger condition that is not CEL of the form KFP compiles (at load, `ir.py`);
- a `ParallelFor` item selector other than `parseJson(string_value)[...]`;
- a pipeline placeholder (`{{$.pipeline_...}}`) this orchestrator does not know;
- a pipeline input artifact (nothing can pass one to a local run);
- an executor kind other than a container or an importer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vtp.local.orchestrator.executors import Executor, PythonExecutor, Refusal, check_packages
from vtp.local.orchestrator.inputs import InputError, check_selector
from vtp.local.orchestrator.ir import PipelineIR, TaskSpec
from vtp.local.orchestrator.placeholders import PipelineContext, unknown_pipeline_placeholders

#: Placeholder names a run fills in (values do not matter for the check).
_KNOWN = PipelineContext("job", "uuid", "project", "location", "gs://root", "time").values(
    "task", "uuid"
)


_CHANNEL = "{{channel:"
_CHANNEL_PROBLEM = (
    "value holds a pipeline channel KFP's compiler left unresolved (an f-string it cannot "
    "compile there; Vertex would receive it as text):"
)


@dataclass
class Plan:
    """The executor of every executor label a task uses, and notices for the run log."""

    ir: PipelineIR
    executors: dict[str, Executor]
    notices: list[str] = field(default_factory=list)

    @property
    def uses_python(self) -> bool:
        return any(isinstance(e, PythonExecutor) for e in self.executors.values())


def _tasks(ir: PipelineIR) -> Iterator[tuple[str, TaskSpec]]:
    for dag_name, dag in ir.dags():
        for task in dag.tasks.values():
            yield dag_name, task


def make_plan(ir: PipelineIR) -> Plan:
    """Classifies every executor and checks what the run would refuse.

    Raises:
        Refusal: listing every problem found.
    """
    plan, problems = survey(ir)
    if problems:
        listing = "\n  ".join(problems)
        raise Refusal(
            f"pipeline {ir.name!r} cannot run locally ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}):\n  {listing}"
        )
    return plan


def survey(ir: PipelineIR) -> tuple[Plan, list[str]]:
    """The plan of what can run, and every problem that keeps the pipeline from running here
    (what `vtp check --local` reports)."""
    problems: list[str] = []
    notices: list[str] = []
    executors: dict[str, Executor] = {}
    for name, spec in ir.root.interface.artifacts.items():
        if not spec.optional:
            problems.append(
                f"pipeline input artifact {name!r}: a local run takes parameters only "
                "(compile the pipeline with the artifact made by a task or an importer)"
            )
    for dag_name, task in _tasks(ir):
        where = f"task {task.name!r}" + (f" (in {dag_name})" if dag_name else "")
        component = ir.component(task.component)
        for spec in (task.inputs.get("parameters") or {}).values():
            selector = spec.get("parameterExpressionSelector")
            if selector:
                try:
                    check_selector(selector)
                except InputError as err:
                    problems.append(f"{where}: {err}")
            constant = (spec.get("runtimeValue") or {}).get("constant")
            for unknown in unknown_pipeline_placeholders(constant, _KNOWN):
                problems.append(f"{where}: unknown placeholder {unknown}")
            if _CHANNEL in json.dumps(constant):
                problems.append(f"{where}: {_CHANNEL_PROBLEM} {constant!r}")
        if component.dag is not None:
            continue
        problems += _unrunnable_pool_images(ir, task, where)
        label = component.executor_label or ""
        if label in executors:
            continue
        importer = ir.executors.get(label, {}).get("importer")
        if importer is not None and _CHANNEL in json.dumps(importer):
            problems.append(f"{where}: the importer's {_CHANNEL_PROBLEM} {importer['artifactUri']}")
        try:
            executor = _classify(ir, label, task.component)
        except Refusal as err:
            problems.append(str(err))
            continue
        executors[label] = executor
        if isinstance(executor, PythonExecutor):
            try:
                notices += check_packages(executor.packages, task.component)
            except Refusal as err:
                problems.append(str(err))
    for component in ir.components.values():
        for pspec in component.interface.params.values():
            if pspec.has_default:
                for unknown in unknown_pipeline_placeholders(pspec.default, _KNOWN):
                    problems.append(
                        f"component {component.name!r}: input {pspec.name!r} defaults to "
                        f"unknown placeholder {unknown}"
                    )
    return Plan(ir, executors, notices), list(dict.fromkeys(problems))


def _worker_pool_specs(ir: PipelineIR, task: TaskSpec) -> Any:
    """The `worker_pool_specs` a job launcher's task passes as a constant (or its component's
    default), None when it comes from another task or a pipeline parameter."""
    spec = (task.inputs.get("parameters") or {}).get("worker_pool_specs")
    if spec is not None:
        return (spec.get("runtimeValue") or {}).get("constant")
    pspec = ir.component(task.component).interface.params.get("worker_pool_specs")
    return pspec.default if pspec is not None and pspec.has_default else None


def _unrunnable_pool_images(ir: PipelineIR, task: TaskSpec, where: str) -> list[str]:
    """A custom or tuning job's worker pools, known before the run, whose image runs its own
    ENTRYPOINT (no `command`) with no local command mapped and the process runtime: the job
    would fail when it starts (`vtp.local._commands.pool_launch`), so the run is refused now.
    Pools filled in at run time are checked when the job starts."""
    label = ir.component(task.component).executor_label or ""
    container = ir.executors.get(label, {}).get("container") or {}
    from vtp.local.orchestrator.executors import launcher_module

    if not launcher_module([*(container.get("command") or []), *(container.get("args") or [])]):
        return []
    pools = _worker_pool_specs(ir, task)
    if isinstance(pools, str):
        try:
            pools = json.loads(pools)
        except ValueError:
            return []
    if not isinstance(pools, list):
        return []
    from vtp.local import _commands
    from vtp.local.docker_runtime import DOCKER, runtime_from_env

    if runtime_from_env() == DOCKER:
        return []
    mapping = _commands.image_commands_from_env()
    problems = []
    for i, pool in enumerate(pools):
        spec = (
            pool.get("container_spec") or pool.get("containerSpec")
            if isinstance(pool, dict)
            else None
        )
        if not isinstance(spec, dict) or spec.get("command"):
            continue
        image = spec.get("image_uri") or spec.get("imageUri")
        if not isinstance(image, str) or not image or "{{" in image:
            continue
        if _commands.find_image_command(image, mapping) is None:
            where_pool = f"{where}: worker_pool_specs[{i}].container_spec"
            problems.append(str(_commands.unmapped_image_error(image, where_pool)))
    return problems


def _classify(ir: PipelineIR, label: str, component: str) -> Executor:
    from vtp.local.orchestrator.executors import classify

    executor: dict[str, Any] = ir.executors[label]
    return classify(executor, component)
