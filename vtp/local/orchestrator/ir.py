"""A compiled KFP v2 pipeline (the IR YAML), loaded into the DAG model the orchestrator runs.

The file is parsed with KFP's own `PipelineSpec` message first (`kfp.pipeline_spec`), so a file
that is not a compiled pipeline is refused with the parser's reason; the model keeps the
JSON form (camelCase keys, as in the YAML) and adds what the scheduler needs: each DAG's tasks
with their dependencies, trigger condition (parsed, see `conditions`), iterator, trigger
strategy, retry policy and caching options; each component's interface with its parameter
types and defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtp.errors import VtpError
from vtp.local.orchestrator.conditions import Condition, ConditionError, parse_condition


class PipelineLoadError(VtpError, ValueError):
    """A file that is not a compiled pipeline the orchestrator can run (bad input: exit 2)."""


#: Parameter types of the IR (`ParameterType.ParameterTypeEnum`).
STRING, INTEGER, DOUBLE, BOOLEAN = "STRING", "NUMBER_INTEGER", "NUMBER_DOUBLE", "BOOLEAN"
LIST, STRUCT, TASK_FINAL_STATUS = "LIST", "STRUCT", "TASK_FINAL_STATUS"
#: Trigger strategy of exit-handler tasks and `.ignore_upstream_failure()` tasks.
ALL_UPSTREAM_TASKS_COMPLETED = "ALL_UPSTREAM_TASKS_COMPLETED"
_NO_DEFAULT = object()


#: IR parameter types as KFP's component specs name them (`InputSpec.type`).
KFP_TYPE_NAMES = {
    STRING: "String",
    INTEGER: "Integer",
    DOUBLE: "Float",
    BOOLEAN: "Boolean",
    LIST: "List",
    STRUCT: "Dict",
}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any = _NO_DEFAULT
    optional: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    @property
    def kfp_type(self) -> str:
        """The type as KFP's `InputSpec` names it (`String`, `Integer`...)."""
        return KFP_TYPE_NAMES.get(self.type, self.type)


@dataclass(frozen=True)
class ArtifactSpec:
    name: str
    schema_title: str
    schema_version: str
    is_list: bool = False
    optional: bool = False

    @property
    def type(self) -> dict[str, str]:
        return {"schemaTitle": self.schema_title, "schemaVersion": self.schema_version}


@dataclass(frozen=True)
class Interface:
    """A component's inputs and outputs."""

    params: dict[str, ParamSpec]
    artifacts: dict[str, ArtifactSpec]
    out_params: dict[str, ParamSpec]
    out_artifacts: dict[str, ArtifactSpec]


@dataclass(frozen=True)
class RetryPolicy:
    """`PipelineTaskSpec.RetryPolicy`: attempts after the first, and the backoff."""

    max_retries: int
    backoff_s: float
    factor: float
    max_backoff_s: float

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (0 for the first), as KFP computes it."""
        return min(self.backoff_s * (self.factor**retry), self.max_backoff_s)


@dataclass(frozen=True)
class LoopSpec:
    """A `ParallelFor` task's iterator."""

    kind: str  # "parameter" | "artifact"
    item_input: str
    raw: str | None = None
    input_name: str | None = None
    parallelism: int = 0


@dataclass(frozen=True)
class TaskSpec:
    """One task of a DAG."""

    name: str
    display_name: str
    component: str
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    condition: Condition | None = None
    iterator: LoopSpec | None = None
    all_upstream_completed: bool = False
    retry: RetryPolicy | None = None
    cache: bool = False
    cache_key: str = ""


@dataclass(frozen=True)
class Dag:
    tasks: dict[str, TaskSpec]
    outputs: dict[str, Any]


@dataclass(frozen=True)
class Component:
    name: str
    interface: Interface
    dag: Dag | None = None
    executor_label: str | None = None


@dataclass(frozen=True)
class PipelineIR:
    """A loaded pipeline: its name, root DAG, components and executors (JSON form)."""

    name: str
    description: str
    path: Path | None
    root: Component
    components: dict[str, Component]
    executors: dict[str, dict[str, Any]]
    sdk_version: str = ""
    platform: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, ParamSpec]:
        """The pipeline's parameters."""
        return self.root.interface.params

    def component(self, name: str) -> Component:
        return self.components[name]

    def executor(self, component: Component) -> dict[str, Any]:
        return self.executors[component.executor_label or ""]

    def dags(self) -> Iterator[tuple[str, Dag]]:
        """Every DAG: the root (`""`) and every DAG component, by name."""
        yield "", self.root.dag  # type: ignore[misc]
        for name, component in self.components.items():
            if component.dag is not None:
                yield name, component.dag


def load_pipeline(path: str | Path) -> PipelineIR:
    """Loads a compiled pipeline YAML (or JSON) file.

    Raises:
        PipelineLoadError: the file is missing, not YAML, not a pipeline, or uses something
            this model cannot represent (a condition that is not CEL of KFP's form...).
    """
    p = Path(path)
    if not p.is_file():
        problem = "is not a file" if p.exists() else "does not exist"
        raise PipelineLoadError(f"pipeline file {str(p)!r} {problem}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PipelineLoadError(f"pipeline file {str(p)!r} cannot be read: {err}") from None
    return load_pipeline_text(text, path=p)


def load_pipeline_text(text: str, *, path: Path | None = None) -> PipelineIR:
    """Loads a compiled pipeline from its YAML text (see `load_pipeline`)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when built
    where = repr(str(path)) if path else "the pipeline"
    try:
        documents = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as err:
        raise PipelineLoadError(f"{where} is not valid YAML: {err}") from None
    if not documents or not isinstance(documents[0], dict):
        raise PipelineLoadError(f"{where} is not a compiled KFP pipeline (no mapping at the top)")
    spec = documents[0]
    platform = documents[1] if len(documents) > 1 and isinstance(documents[1], dict) else {}
    if "root" not in spec or ("deploymentSpec" not in spec and "components" not in spec):
        raise PipelineLoadError(
            f"{where} is not a compiled KFP v2 pipeline: it has no `root` DAG and "
            "`deploymentSpec` (compile the pipeline with kfp.compiler.Compiler)"
        )
    _check_message(spec, where)
    try:
        return _model(spec, platform, path)
    except ConditionError as err:
        raise PipelineLoadError(f"{where}: {err}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise PipelineLoadError(
            f"{where} is not a pipeline this orchestrator reads: {err}"
        ) from None


def _check_message(spec: Mapping[str, Any], where: str) -> None:
    from google.protobuf import json_format

    from vtp.package_init import defer_init

    defer_init("kfp")  # the message only: not KFP's client and Kubernetes (0.2 s)
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        json_format.ParseDict(json.loads(json.dumps(spec)), pipeline_spec_pb2.PipelineSpec())
    except (json_format.ParseError, TypeError, ValueError) as err:
        raise PipelineLoadError(f"{where} is not a valid KFP PipelineSpec: {err}") from None


def _model(spec: dict[str, Any], platform: dict[str, Any], path: Path | None) -> PipelineIR:
    info = spec.get("pipelineInfo") or {}
    root = spec["root"]
    if "dag" not in root:
        raise PipelineLoadError("the root component has no DAG")
    components = {
        name: _component(name, body) for name, body in (spec.get("components") or {}).items()
    }
    executors = dict((spec.get("deploymentSpec") or {}).get("executors") or {})
    ir = PipelineIR(
        name=str(info.get("name") or (path.stem if path else "pipeline")),
        description=str(info.get("description") or ""),
        path=path,
        root=_component("root", root),
        components=components,
        executors=executors,
        sdk_version=str(spec.get("sdkVersion") or ""),
        platform=platform,
    )
    for dag_name, dag in ir.dags():
        for task in dag.tasks.values():
            if task.component not in components:
                raise PipelineLoadError(
                    f"task {task.name!r} of {dag_name or 'the root DAG'} refers to component "
                    f"{task.component!r}, which the file does not define"
                )
            target = components[task.component]
            if target.dag is None and target.executor_label not in executors:
                raise PipelineLoadError(
                    f"component {task.component!r} has executor {target.executor_label!r}, "
                    "which deploymentSpec.executors does not define"
                )
            for dep in task.dependencies:
                if dep not in dag.tasks:
                    raise PipelineLoadError(
                        f"task {task.name!r} depends on {dep!r}, which is not a task of its DAG"
                    )
        _check_acyclic(dag_name, dag)
    return ir


def _check_acyclic(dag_name: str, dag: Dag) -> None:
    from kfp.local import graph_utils

    order = graph_utils.topological_sort({n: list(t.dependencies) for n, t in dag.tasks.items()})
    seen: set[str] = set()
    for name in reversed(order):  # a stack: dependencies are popped first
        missing = [d for d in dag.tasks[name].dependencies if d not in seen]
        if missing:
            raise PipelineLoadError(
                f"the tasks of {dag_name or 'the root DAG'} depend on each other in a cycle "
                f"({name!r} and {missing[0]!r})"
            )
        seen.add(name)


def _interface(body: Mapping[str, Any]) -> Interface:
    inputs = body.get("inputDefinitions") or {}
    outputs = body.get("outputDefinitions") or {}
    return Interface(
        params={n: _param(n, s) for n, s in (inputs.get("parameters") or {}).items()},
        artifacts={n: _artifact(n, s) for n, s in (inputs.get("artifacts") or {}).items()},
        out_params={n: _param(n, s) for n, s in (outputs.get("parameters") or {}).items()},
        out_artifacts={n: _artifact(n, s) for n, s in (outputs.get("artifacts") or {}).items()},
    )


def _param(name: str, spec: Mapping[str, Any]) -> ParamSpec:
    kind = spec.get("parameterType") or _legacy_type(spec.get("type"))
    default = spec.get("defaultValue", _NO_DEFAULT)
    if kind == INTEGER and isinstance(default, float) and default.is_integer():
        default = int(default)  # protobuf Values carry every number as a double
    return ParamSpec(name, kind, default, bool(spec.get("isOptional")) or "defaultValue" in spec)


def _legacy_type(kind: Any) -> str:
    return {"STRING": STRING, "INT": INTEGER, "DOUBLE": DOUBLE}.get(str(kind), STRING)


def _artifact(name: str, spec: Mapping[str, Any]) -> ArtifactSpec:
    kind = spec.get("artifactType") or {}
    return ArtifactSpec(
        name,
        str(kind.get("schemaTitle") or "system.Artifact"),
        str(kind.get("schemaVersion") or "0.0.1"),
        bool(spec.get("isArtifactList")),
        bool(spec.get("isOptional")),
    )


def _component(name: str, body: Mapping[str, Any]) -> Component:
    dag = body.get("dag")
    return Component(
        name=name,
        interface=_interface(body),
        dag=_dag(dag) if dag is not None else None,
        executor_label=body.get("executorLabel"),
    )


def _dag(body: Mapping[str, Any]) -> Dag:
    tasks = {name: _task(name, spec) for name, spec in (body.get("tasks") or {}).items()}
    return Dag(tasks=tasks, outputs=dict(body.get("outputs") or {}))


def _task(name: str, spec: Mapping[str, Any]) -> TaskSpec:
    trigger = spec.get("triggerPolicy") or {}
    condition = trigger.get("condition")
    caching = spec.get("cachingOptions") or {}
    return TaskSpec(
        name=name,
        display_name=str((spec.get("taskInfo") or {}).get("name") or name),
        component=spec["componentRef"]["name"],
        dependencies=tuple(spec.get("dependentTasks") or ()),
        inputs=dict(spec.get("inputs") or {}),
        condition=parse_condition(condition) if condition else None,
        iterator=_iterator(spec),
        all_upstream_completed=trigger.get("strategy") == ALL_UPSTREAM_TASKS_COMPLETED,
        retry=_retry(spec.get("retryPolicy")),
        cache=bool(caching.get("enableCache")),
        cache_key=str(caching.get("cacheKey") or ""),
    )


def _iterator(spec: Mapping[str, Any]) -> LoopSpec | None:
    limit = int((spec.get("iteratorPolicy") or {}).get("parallelismLimit") or 0)
    if "parameterIterator" in spec:
        it = spec["parameterIterator"]
        items = it.get("items") or {}
        return LoopSpec(
            "parameter",
            it["itemInput"],
            raw=items.get("raw"),
            input_name=items.get("inputParameter"),
            parallelism=limit,
        )
    if "artifactIterator" in spec:
        it = spec["artifactIterator"]
        return LoopSpec(
            "artifact",
            it["itemInput"],
            input_name=(it.get("items") or {}).get("inputArtifact"),
            parallelism=limit,
        )
    return None


def _retry(policy: Mapping[str, Any] | None) -> RetryPolicy | None:
    if not policy or not int(policy.get("maxRetryCount") or 0):
        return None
    return RetryPolicy(
        max_retries=int(policy["maxRetryCount"]),
        backoff_s=_seconds(policy.get("backoffDuration"), 0.0),
        factor=float(policy.get("backoffFactor") or 2.0),
        max_backoff_s=_seconds(policy.get("backoffMaxDuration"), 3600.0),
    )


def _seconds(duration: Any, default: float) -> float:
    if duration in (None, ""):
        return default
    text = str(duration).strip()
    if not text.endswith("s"):
        raise PipelineLoadError(f"retry duration {duration!r} must end in 's'")
    return float(text[:-1])
