"""A compiled pipeline (KFP v2 IR YAML) as `vtp check` reads it: the tasks of every DAG level
(sub-pipelines, conditions, loops, exit handlers) and the values of their inputs where the YAML
fixes them (constants, component defaults, pipeline parameter defaults)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtp.errors import VtpError

#: The keys every compiled KFP v2 pipeline or component has at its top level.
IR_KEYS = ("pipelineInfo", "root", "deploymentSpec")

_INPUT_REF = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")
_OTHER_PLACEHOLDER = re.compile(r"\{\{\$[^}]*\}\}|\{\{channel:[^}]*\}\}")
_MAX_DEPTH = 50


class CheckInputError(VtpError):
    """A path that is not a readable compiled pipeline or component."""


@dataclass(frozen=True)
class PipelineIR:
    """One compiled pipeline or component file."""

    path: Path
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec["pipelineInfo"].get("name", self.path.stem))

    @property
    def components(self) -> Mapping[str, Any]:
        return self.spec.get("components") or {}

    @property
    def executors(self) -> Mapping[str, Any]:
        return (self.spec.get("deploymentSpec") or {}).get("executors") or {}


def load_pipeline(path: Path) -> PipelineIR:
    """Read and parse `path`, or raise CheckInputError saying why it cannot be checked."""
    import yaml

    from vtp.cloud.templates import yaml_loader

    loader = yaml_loader()
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise CheckInputError(f"{path}: not a text file") from None
    except OSError as err:
        raise CheckInputError(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        reason = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CheckInputError(f"{path}: not valid YAML{where}: {reason}") from None
    spec = docs[0] if docs else None
    if not isinstance(spec, dict) or not all(key in spec for key in IR_KEYS):
        raise CheckInputError(
            f"{path}: not a compiled KFP v2 pipeline or component (its top level must hold "
            f"{', '.join(IR_KEYS)}; compile with `vtp compile` or kfp.compiler.Compiler)"
        )
    root = spec["root"]
    if not isinstance(root, dict) or not ("dag" in root or "executorLabel" in root):
        raise CheckInputError(f"{path}: root must hold a dag or an executorLabel")
    _check_structure(path, spec)
    return PipelineIR(path, spec)


def _check_structure(path: Path, spec: Mapping[str, Any]) -> None:
    """Refuses an IR whose parts are not of the kind KFP writes where the checks read them (a
    mapping, a list, a name), so a hand-edited file is a clear error, not a traceback."""

    def refuse(where: str, kind: str, value: Any) -> None:
        raise CheckInputError(
            f"{path}: {where} must be {kind}, got {type(value).__name__} "
            "(not a compiled KFP v2 pipeline or component)"
        )

    def mapping(value: Any, where: str, *, entry: bool = False) -> Mapping[str, Any]:
        """`value`, or {} for an absent section; an entry of a section must be a mapping."""
        if (entry or value is not None) and not isinstance(value, Mapping):
            refuse(where, "a mapping", value)
        return value or {}

    def text(value: Any, where: str) -> None:
        if value is not None and not isinstance(value, str):
            refuse(where, "a string", value)

    def strings(value: Any, where: str) -> None:
        if value is not None and not isinstance(value, list):
            refuse(where, "a list", value)

    def definitions(value: Any, where: str) -> None:
        for key, item in mapping(value, where).items():
            body = mapping(item, f"{where}.{key}", entry=True)
            text(body.get("parameterType"), f"{where}.{key}.parameterType")

    def task_input(value: Any, where: str) -> None:
        spec = mapping(value, where, entry=True)
        for key in ("componentInputParameter", "componentInputArtifact"):
            if key in spec and not isinstance(spec[key], str):
                refuse(f"{where}.{key}", "a string", spec[key])
        for source in ("taskOutputParameter", "taskOutputArtifact", "runtimeValue"):
            if source in spec:
                out = mapping(spec[source], f"{where}.{source}", entry=True)
                for key in ("producerTask", "outputParameterKey", "outputArtifactKey"):
                    text(out.get(key), f"{where}.{source}.{key}")

    def component(value: Any, where: str) -> None:
        body = mapping(value, where, entry=True)
        text(body.get("executorLabel"), f"{where}.executorLabel")
        for section in ("inputDefinitions", "outputDefinitions"):
            defs = mapping(body.get(section), f"{where}.{section}")
            for kind in ("parameters", "artifacts"):
                definitions(defs.get(kind), f"{where}.{section}.{kind}")
        dag = mapping(body.get("dag"), f"{where}.dag")
        outputs = mapping(dag.get("outputs"), f"{where}.dag.outputs")
        for kind in ("parameters", "artifacts"):
            for key, item in mapping(outputs.get(kind), f"{where}.dag.outputs.{kind}").items():
                mapping(item, f"{where}.dag.outputs.{kind}.{key}", entry=True)
        for key, task in mapping(dag.get("tasks"), f"{where}.dag.tasks").items():
            at = f"{where}.dag.tasks.{key}"
            task = mapping(task, at, entry=True)
            for part in ("componentRef", "taskInfo"):
                text(mapping(task.get(part), f"{at}.{part}").get("name"), f"{at}.{part}.name")
            policy = mapping(task.get("triggerPolicy"), f"{at}.triggerPolicy")
            text(policy.get("condition"), f"{at}.triggerPolicy.condition")
            mapping(task.get("parameterIterator"), f"{at}.parameterIterator")
            inputs = mapping(task.get("inputs"), f"{at}.inputs")
            for kind in ("parameters", "artifacts"):
                for name, item in mapping(inputs.get(kind), f"{at}.inputs.{kind}").items():
                    task_input(item, f"{at}.inputs.{kind}.{name}")

    mapping(spec["pipelineInfo"], "pipelineInfo")
    component(spec["root"], "root")
    for name, value in mapping(spec.get("components"), "components").items():
        component(value, f"components.{name}")
    deployment = mapping(spec["deploymentSpec"], "deploymentSpec")
    for name, executor in mapping(deployment.get("executors"), "deploymentSpec.executors").items():
        at = f"deploymentSpec.executors.{name}"
        body = mapping(executor, at, entry=True)
        container = mapping(body.get("container"), f"{at}.container")
        for part in ("command", "args"):
            strings(container.get(part), f"{at}.container.{part}")
        mapping(body.get("importer"), f"{at}.importer")


@dataclass(frozen=True, eq=False)
class Scope:
    """One DAG level: the root, or the DAG of a sub-pipeline, condition, loop or exit handler."""

    ir: PipelineIR
    component: Mapping[str, Any]
    invoker: Task | None = None

    @property
    def parent(self) -> Scope | None:
        return self.invoker.scope if self.invoker else None

    @property
    def names(self) -> tuple[str, ...]:
        """Display names of the DAG tasks that enclose this level."""
        return () if self.invoker is None else (*self.invoker.scope.names, self.invoker.display)

    def input_definition(self, name: str) -> Mapping[str, Any] | None:
        return ((self.component.get("inputDefinitions") or {}).get("parameters") or {}).get(name)

    def tasks(self) -> Mapping[str, Any]:
        return (self.component.get("dag") or {}).get("tasks") or {}

    def task(self, key: str) -> Task | None:
        spec = self.tasks().get(key)
        return None if spec is None else Task(key, spec, self)


@dataclass(frozen=True, eq=False)
class Task:
    """A task of a DAG level, with its component and (for a container or importer) executor."""

    key: str
    spec: Mapping[str, Any]
    scope: Scope

    @property
    def component_name(self) -> str:
        return str((self.spec.get("componentRef") or {}).get("name", ""))

    @property
    def component(self) -> Mapping[str, Any]:
        return self.scope.ir.components.get(self.component_name) or {}

    @property
    def executor(self) -> Mapping[str, Any] | None:
        label = self.component.get("executorLabel")
        return self.scope.ir.executors.get(label) if label else None

    @property
    def dag(self) -> Scope | None:
        """The DAG this task runs, if it is a sub-pipeline, condition, loop or exit handler."""
        return Scope(self.scope.ir, self.component, self) if "dag" in self.component else None

    @property
    def display(self) -> str:
        return str((self.spec.get("taskInfo") or {}).get("name") or self.key)

    @property
    def short_component(self) -> str:
        name = self.component_name
        return name[len("comp-") :] if name.startswith("comp-") else name

    @property
    def label(self) -> str:
        """`task 'outer/train' (custom-training-job)`: the task path and its component."""
        path = "/".join((*self.scope.names, self.display))
        return f"task {path!r} ({self.short_component})"

    def input_definition(self, name: str) -> Mapping[str, Any] | None:
        return ((self.component.get("inputDefinitions") or {}).get("parameters") or {}).get(name)

    def input_names(self) -> list[str]:
        defined = (self.component.get("inputDefinitions") or {}).get("parameters") or {}
        return list(defined)


def walk(ir: PipelineIR) -> Iterator[Task]:
    """Every task at every DAG level, depth first, each DAG task before its own tasks."""
    yield from _walk(Scope(ir, ir.spec["root"]), 0)


def _walk(scope: Scope, depth: int) -> Iterator[Task]:
    if depth > _MAX_DEPTH:
        raise CheckInputError(f"{scope.ir.path}: DAGs nested more than {_MAX_DEPTH} deep")
    for key in scope.tasks():
        task = Task(key, scope.tasks()[key], scope)
        yield task
        inner = task.dag
        if inner is not None:
            yield from _walk(inner, depth + 1)


def scopes(ir: PipelineIR) -> Iterator[Scope]:
    """The root DAG level and every nested one."""
    yield Scope(ir, ir.spec["root"])
    for task in walk(ir):
        inner = task.dag
        if inner is not None:
            yield inner


# --- executors ----------------------------------------------------------------------------------


def launcher_module(executor: Mapping[str, Any]) -> str:
    """The module a container runs with `python -m MODULE` (GCPC launchers), else ""."""
    command = (executor.get("container") or {}).get("command") or []
    for i, part in enumerate(command[:-1]):
        if part == "-m":
            return str(command[i + 1])
    return ""


def python_function(executor: Mapping[str, Any]) -> str:
    """The function a lightweight Python component runs (`--function_to_execute`), else ""."""
    args = (executor.get("container") or {}).get("args") or []
    for i, part in enumerate(args[:-1]):
        if part == "--function_to_execute":
            return str(args[i + 1])
    return ""


def python_source(executor: Mapping[str, Any]) -> str:
    """The embedded source of a lightweight Python component (empty for other executors)."""
    command = (executor.get("container") or {}).get("command") or []
    return "\n".join(str(part) for part in command)


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """An input's value, if the YAML fixes it.

    `origin` says where a known value comes from when it is not the task's own constant
    (e.g. "default of pipeline parameter 'timeout'"), and what provides an unknown one at run
    time (e.g. "output 'worker_pool_specs' of task 'training-job-spec'").
    """

    known: bool
    value: Any = None
    origin: str = ""


def resolve(task: Task, name: str, *, substitute: bool = True) -> Value:
    """The value input `name` of `task` takes, through enclosing DAGs up to pipeline defaults.

    Args:
        task: The task.
        name: One of its parameter inputs.
        substitute: Replace `{{$.inputs.parameters[...]}}` placeholders inside constants with
            the values they point to (an unresolved one makes the value unknown).
    """
    return _coerce(_resolve(task, name, substitute, 0), task.input_definition(name))


def _resolve(task: Task, name: str, substitute: bool, depth: int) -> Value:
    if depth > _MAX_DEPTH:
        return Value(False, origin="a chain of inputs too deep to follow")
    spec = ((task.spec.get("inputs") or {}).get("parameters") or {}).get(name)
    if spec is None:
        definition = task.input_definition(name) or {}
        if "defaultValue" in definition:
            return _constant(task, definition["defaultValue"], substitute, depth, "")
        return Value(False, origin="not set")
    return _resolve_spec(task, spec, substitute, depth)


def _resolve_spec(task: Task, spec: Mapping[str, Any], substitute: bool, depth: int) -> Value:
    if "parameterExpressionSelector" in spec:
        source = spec.get("componentInputParameter") or "an upstream value"
        kind = "a dsl.ParallelFor item" if "loop-item" in str(source) else f"a field of {source}"
        return Value(False, origin=kind)
    if "runtimeValue" in spec:
        return _constant(task, spec["runtimeValue"].get("constant"), substitute, depth, "")
    if "componentInputParameter" in spec:
        return _scope_input(task.scope, spec["componentInputParameter"], substitute, depth + 1)
    if "taskOutputParameter" in spec:
        out = spec["taskOutputParameter"]
        producer = task.scope.task(out.get("producerTask", ""))
        shown = producer.display if producer else out.get("producerTask", "?")
        return Value(False, origin=f"output {out.get('outputParameterKey')!r} of task {shown!r}")
    if "taskFinalStatus" in spec:
        return Value(False, origin="the final status of the exit handler's tasks")
    return Value(False, origin="a run-time value")


def _scope_input(scope: Scope, name: str, substitute: bool, depth: int) -> Value:
    invoker = scope.invoker
    if invoker is None:
        definition = scope.input_definition(name)
        if definition is None:
            what = "a dsl.ParallelFor item" if "loop-item" in name else f"input {name!r}"
            return Value(False, origin=what)
        if "defaultValue" not in definition:
            return Value(False, origin=f"pipeline parameter {name!r} (no default)")
        origin = f"default of pipeline parameter {name!r}"
        return _default(definition["defaultValue"], origin, substitute)
    item = (invoker.spec.get("parameterIterator") or {}).get("itemInput")
    if item and (name == item or name.startswith(f"{item}-subvar-")):
        return Value(False, origin=f"an item of dsl.ParallelFor {invoker.display!r}")
    spec = ((invoker.spec.get("inputs") or {}).get("parameters") or {}).get(name)
    if spec is not None:
        return _resolve_spec(invoker, spec, substitute, depth)
    definition = scope.input_definition(name) or {}
    if "defaultValue" in definition:
        origin = f"default of input {name!r} of {invoker.label}"
        return _default(definition["defaultValue"], origin, substitute)
    return Value(False, origin=f"input {name!r} of {invoker.label}")


def _default(value: Any, origin: str, substitute: bool) -> Value:
    """A DAG input's default; one holding a placeholder is filled in only at run time."""
    other = _OTHER_PLACEHOLDER.search(json.dumps(value)) if substitute else None
    if other:
        return Value(False, origin=f"placeholder {other[0]} in the {origin}")
    return Value(True, value, origin)


def fill(task: Task, value: Any) -> Value:
    """`value` (a constant of `task`, e.g. importer metadata) with its
    `{{$.inputs.parameters[...]}}` placeholders replaced by the inputs they name."""
    return _constant(task, value, True, 0, "")


def _constant(task: Task, value: Any, substitute: bool, depth: int, origin: str) -> Value:
    if not substitute:
        return Value(True, value, origin)
    origins: list[str] = []
    unknown: list[str] = []

    def sub(item: Any) -> Any:
        if isinstance(item, str):
            return sub_text(item)
        if isinstance(item, list):
            return [sub(x) for x in item]
        if isinstance(item, dict):
            return {str(sub(k)): sub(v) for k, v in item.items()}
        return item

    def lookup(name: str) -> Value:
        found = _coerce(_resolve(task, name, True, depth + 1), task.input_definition(name))
        if not found.known:
            unknown.append(found.origin)
        elif found.origin:
            origins.append(found.origin)
        return found

    def sub_text(text: str) -> Any:
        whole = _INPUT_REF.fullmatch(text)
        if whole:
            found = lookup(whole[1])
            return found.value if found.known else text

        def replace(match: re.Match[str]) -> str:
            found = lookup(match[1])
            if not found.known:
                return match[0]
            return found.value if isinstance(found.value, str) else json.dumps(found.value)

        text = _INPUT_REF.sub(replace, text)
        other = _OTHER_PLACEHOLDER.search(text)
        if other and not unknown:
            unknown.append(f"placeholder {other[0]} (filled in at run time)")
        return text

    resolved = sub(value)
    if unknown:
        return Value(False, origin=unknown[0])
    return Value(True, resolved, ", ".join(dict.fromkeys([o for o in [origin, *origins] if o])))


def _coerce(value: Value, definition: Mapping[str, Any] | None) -> Value:
    """KFP writes every number as a float: give NUMBER_INTEGER inputs their ints back."""
    kind = (definition or {}).get("parameterType")
    v = value.value
    if value.known and kind == "NUMBER_INTEGER" and isinstance(v, float) and v.is_integer():
        return Value(True, int(v), value.origin)
    return value


def artifact_producer(task: Task, name: str) -> tuple[Task | None, str]:
    """The task whose output feeds artifact input `name` of `task` (through enclosing DAGs),
    and its output key; `(None, what)` when it comes from elsewhere (a pipeline input...)."""
    scope, spec = task.scope, ((task.spec.get("inputs") or {}).get("artifacts") or {}).get(name)
    for _ in range(_MAX_DEPTH):
        if spec is None:
            return None, "not set"
        if "taskOutputArtifact" in spec:
            out = spec["taskOutputArtifact"]
            producer = scope.task(out.get("producerTask", ""))
            return producer, str(out.get("outputArtifactKey", ""))
        if "componentInputArtifact" not in spec or scope.invoker is None:
            return None, "a pipeline input artifact"
        key = spec["componentInputArtifact"]
        invoker = scope.invoker
        scope = invoker.scope
        spec = ((invoker.spec.get("inputs") or {}).get("artifacts") or {}).get(key)
    return None, "a chain of inputs too deep to follow"
