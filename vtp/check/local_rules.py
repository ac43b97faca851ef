"""What kfp.local would skip silently or fail on, found in a compiled pipeline before a run.

- Conditions kfp.local cannot evaluate: it logs a warning, skips the branch, and the run still
  reports success (a NamedTuple field of a multi-output task read in the DAG where that task
  runs; a float compared with an int literal, compiled to `double(...)`). The check runs
  kfp.local's own `ConditionEvaluator` over typed stand-in values of every task output and
  DAG input, and reads its log with the `LogTap` that makes `vtp run` fail such runs.
- `dsl.OneOf` over artifacts (a DAG output with several artifact selectors): kfp.local fails.
- Parameter values holding a placeholder kfp.local cannot fill in (e.g.
  `{{$.pipeline_google_cloud_project_id}}`), on tasks that run as they are locally. GCPC's
  launcher tasks are left out: the local build replaces them by twins.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping
from typing import Any

from vtp.check.ir import PipelineIR, Scope, Task, launcher_module, resolve, scopes, walk
from vtp.check.report import Finding

#: A stand-in value of each KFP parameter type, for kfp.local's condition evaluator.
STAND_INS: dict[str, Any] = {
    "STRING": "stand-in",
    "NUMBER_DOUBLE": 0.5,
    "NUMBER_INTEGER": 1,
    "BOOLEAN": True,
    "LIST": [],
    "STRUCT": {},
    "TASK_FINAL_STATUS": {},
}

_CHANNEL = re.compile(r"pipelinechannel--[A-Za-z0-9_\-]+")
_GCPC_LAUNCHERS = "google_cloud_pipeline_components."
_EVALUATION_FAILED = re.compile(r'^Condition evaluation failed for ".*": ')


def local_findings(ir: PipelineIR, level: str) -> list[Finding]:
    """Every kfp.local finding of `ir`, each at `level` (PROBLEM with --local, else WARNING)."""
    findings: list[Finding] = []
    stores: dict[tuple[str, ...], Any] = {}
    for scope in scopes(ir):
        findings += _oneof_artifacts(scope, level)
        for key, spec in scope.tasks().items():
            condition = (spec.get("triggerPolicy") or {}).get("condition")
            if condition:
                task = Task(key, spec, scope)
                reason = unresolved_condition(condition, _store(scope, stores))
                if reason:
                    findings.append(Finding(level, task.label, _condition_text(task, reason)))
    findings += _placeholders(ir, level)
    return findings


def unresolved_condition(condition: str, store: Any) -> str | None:
    """Why kfp.local's ConditionEvaluator could not evaluate `condition` over `store` (an
    `IOStore`), as the unresolved-condition line `vtp run` fails on; None if it could."""
    from kfp.local.orchestrator.enhanced_dag_orchestrator import ConditionEvaluator

    from vtp.local.logtap import LogTap

    tap = LogTap(log=io.StringIO(), on_event=lambda event: None)
    handler = logging.StreamHandler(tap)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    if root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    try:
        ConditionEvaluator.evaluate_condition(condition, store)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        tap.close_tap()
    return next((e.status for e in tap.events if e.kind == "unresolved"), None)


def _store(scope: Scope, stores: dict[tuple[str, ...], Any]) -> Any:
    """The IOStore kfp.local would hold for `scope`: its inputs and its tasks' outputs."""
    from kfp.local.io import IOStore

    key = _scope_key(scope)
    if key not in stores:
        parent = _store(scope.parent, stores) if scope.parent is not None else None
        store = IOStore(parent=parent)
        for name, definition in _parameters(scope.component, "inputDefinitions").items():
            store.put_parent_input(name, _stand_in(definition))
        for task_key in scope.tasks():
            task = Task(task_key, scope.tasks()[task_key], scope)
            for name, definition in _parameters(task.component, "outputDefinitions").items():
                store.put_task_output(task_key, name, _stand_in(definition))
        stores[key] = store
    return stores[key]


def _scope_key(scope: Scope) -> tuple[str, ...]:
    keys: list[str] = []
    while scope.invoker is not None:
        keys.append(scope.invoker.key)
        scope = scope.invoker.scope
    return tuple(reversed(keys))


def _parameters(component: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    return (component.get(section) or {}).get("parameters") or {}


def _stand_in(definition: Mapping[str, Any]) -> Any:
    return STAND_INS.get(definition.get("parameterType", "STRING"), "stand-in")


def _condition_text(task: Task, reason: str) -> str:
    condition = task.spec["triggerPolicy"]["condition"]
    fields = []
    inputs = (task.spec.get("inputs") or {}).get("parameters") or {}
    for channel in dict.fromkeys(_CHANNEL.findall(condition)):
        out = (inputs.get(channel) or {}).get("taskOutputParameter") or {}
        key = out.get("outputParameterKey")
        if key and key != "Output":
            producer = task.scope.task(out.get("producerTask", ""))
            shown = producer.display if producer else out.get("producerTask")
            fields.append(f"output {key!r} of task {shown!r}")
    if "double(" in condition:
        hint = (
            "a float compared with an int literal compiles to double(...), which kfp.local "
            "cannot evaluate: compare with a float literal (0.0, not 0)"
        )
    elif fields:
        hint = (
            f"it reads {', '.join(fields)}, a field of a multi-output (NamedTuple) task, which "
            "kfp.local resolves only as a task's single output: gate on a component with one "
            "str or bool output (as vtp's metric_gate does)"
        )
    else:
        hint = "gate on a single-output task's .output"
    reason = _EVALUATION_FAILED.sub("evaluation failed: ", reason)
    return (
        "kfp.local would skip this branch and still report success: it cannot evaluate the "
        f"condition {condition} ({reason}); {hint}"
    )


def _oneof_artifacts(scope: Scope, level: str) -> list[Finding]:
    outputs = ((scope.component.get("dag") or {}).get("outputs") or {}).get("artifacts") or {}
    where = scope.invoker.label if scope.invoker is not None else "pipeline outputs"
    findings = []
    for spec in outputs.values():
        selectors = spec.get("artifactSelectors") or []
        if len(selectors) > 1:
            picked = " and ".join(repr(s.get("producerSubtask")) for s in selectors)
            findings.append(
                Finding(
                    level,
                    where,
                    f"dsl.OneOf over the artifacts of {picked}: kfp.local fails on it (Expected 1 "
                    "artifact in ArtifactSelectorSpec); let the branches meet on a string such "
                    "as a URI and build the artifact after them",
                )
            )
    return findings


def _placeholders(ir: PipelineIR, level: str) -> list[Finding]:
    from kfp.local import placeholder_utils

    findings = []
    for task in walk(ir):
        executor = task.executor
        if not executor or "container" not in executor:
            continue
        if launcher_module(executor).startswith(_GCPC_LAUNCHERS):
            continue
        for name in task.input_names():
            value = resolve(task, name, substitute=False)
            if not (value.known and isinstance(value.value, str) and "{{$" in value.value):
                continue
            try:
                placeholder_utils.resolve_individual_placeholder(
                    value.value,
                    executor_input_dict={
                        "inputs": {"parameterValues": {}},
                        "outputs": {"outputFile": "/output"},
                    },
                    pipeline_resource_name="pipeline",
                    task_resource_name=task.key,
                    pipeline_root="/pipeline-root",
                    pipeline_job_id="job",
                    pipeline_task_id="task",
                )
            except Exception as err:  # kfp.local raises IndexError, KeyError, ValueError...
                origin = f" ({value.origin})" if value.origin else ""
                findings.append(
                    Finding(
                        level,
                        task.label,
                        f"input {name!r} holds {value.value!r}{origin}, a placeholder kfp.local "
                        f"cannot fill in ({type(err).__name__}{': ' if str(err) else ''}"
                        f"{err}): pass the value explicitly",
                    )
                )
    return findings
