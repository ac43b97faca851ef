"""A task's executor input (what KFP hands a container) and its outputs, read back.

The executor input is `pipeline_spec.ExecutorInput` in JSON form, built as KFP's backend
builds it (kfp.local's `executor_input_utils.construct_executor_input` is the model):
every input parameter with a value (given, or the component's default), integers as integers
(`executor_input_to_dict`), input artifacts as `RuntimeArtifact`s, one output artifact per
output with its URI under the pipeline root, one output file per output parameter, and the
executor output file. Outputs are read as KFP reads them: the executor output file
(`parameterValues`, updated artifacts), then the parameter output files of `dsl.OutputPath`
(kfp.local's `executor_output_utils.special_dsl_outputpath_read`), integers cast back.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtp.errors import VtpError
from vtp.local.orchestrator.ir import (
    BOOLEAN,
    DOUBLE,
    INTEGER,
    LIST,
    STRING,
    STRUCT,
    ArtifactSpec,
    Interface,
)

EXECUTOR_OUTPUT = "executor_output.json"


class OutputError(VtpError, RuntimeError):
    """A task's outputs that cannot be read (a missing output parameter, a bad file)."""


def artifact_resource_name(project: str, location: str, uri: str) -> str:
    """A stable local artifact name, shaped like a Vertex ML Metadata artifact's: the same URI
    always gives the same name (the cache key is built from input artifact names)."""
    digest = int(hashlib.sha256(uri.encode()).hexdigest()[:15], 16)
    return f"projects/{project}/locations/{location}/metadataStores/default/artifacts/{digest}"


def typed(kind: str, value: Any) -> Any:
    """A parameter value as its declared type carries it (protobuf Values hold every number as
    a double: an integer comes back as `3.0`)."""
    if kind == INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == DOUBLE and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def check_type(kind: str, value: Any) -> str | None:
    """Why `value` is not a value of parameter type `kind`, or None."""
    ok = {
        STRING: lambda v: isinstance(v, str),
        INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
        DOUBLE: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        BOOLEAN: lambda v: isinstance(v, bool),
        LIST: lambda v: isinstance(v, list),
        STRUCT: lambda v: isinstance(v, dict),
    }.get(kind)
    if ok is None or ok(value):
        return None
    return f"must be of type {kind}, got {value!r}"


@dataclass(frozen=True)
class TaskPaths:
    """Where one task's outputs go: artifacts under the pipeline root (a `gs://` URI), files
    (parameter outputs, the executor output) on the local disk."""

    artifact_root: str
    file_root: Path

    def artifact_uri(self, name: str) -> str:
        return f"{self.artifact_root.rstrip('/')}/{name}"

    def output_file(self, name: str) -> str:
        return str(self.file_root / "outputs" / name)

    @property
    def executor_output(self) -> str:
        return str(self.file_root / EXECUTOR_OUTPUT)


def with_defaults(interface: Interface, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` typed, completed with the component's defaults."""
    values = {}
    for name, value in params.items():
        spec = interface.params.get(name)
        values[name] = typed(spec.type, value) if spec else value
    for name, spec in interface.params.items():
        if name not in values and spec.has_default:
            values[name] = typed(spec.type, spec.default)
    return values


def executor_input(
    interface: Interface,
    params: Mapping[str, Any],
    artifacts: Mapping[str, Any],
    paths: TaskPaths,
) -> dict[str, Any]:
    """The executor input of a task whose resolved inputs are `params` and `artifacts`
    (artifact values: a RuntimeArtifact dict or a list of them)."""
    values = with_defaults(interface, params)
    in_artifacts = {}
    for name, value in artifacts.items():
        if value is None:
            continue
        listed = value if isinstance(value, list) else [value]
        in_artifacts[name] = {"artifacts": [dict(a) for a in listed]}
    out_artifacts = {
        name: {
            "artifacts": [
                {
                    "name": name,
                    "type": spec.type,
                    "uri": paths.artifact_uri(name),
                    "metadata": {},
                }
            ]
        }
        for name, spec in interface.out_artifacts.items()
    }
    result: dict[str, Any] = {"inputs": {}, "outputs": {}}
    if values:
        result["inputs"]["parameterValues"] = values
    if in_artifacts:
        result["inputs"]["artifacts"] = in_artifacts
    if interface.out_params:
        result["outputs"]["parameters"] = {
            name: {"outputFile": paths.output_file(name)} for name in interface.out_params
        }
    if out_artifacts:
        result["outputs"]["artifacts"] = out_artifacts
    result["outputs"]["outputFile"] = paths.executor_output
    return result


@dataclass
class Outputs:
    """What a task produced: parameter values and artifacts (RuntimeArtifact dicts)."""

    params: dict[str, Any]
    artifacts: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"parameters": self.params, "artifacts": self.artifacts}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outputs:
        return cls(dict(data.get("parameters") or {}), dict(data.get("artifacts") or {}))


def read_outputs(
    interface: Interface,
    executor_in: Mapping[str, Any],
    *,
    project: str,
    location: str,
    gcs_root: Path | None = None,
) -> Outputs:
    """The outputs of a finished task, read as KFP reads them.

    Raises:
        OutputError: the executor output is not JSON, an output parameter was never written or
            has the wrong type.
    """
    from kfp.local import executor_output_utils
    from kfp.pipeline_spec import pipeline_spec_pb2

    outputs = executor_in.get("outputs", {})
    written: dict[str, Any] = {}
    path = Path(outputs["outputFile"])
    if path.is_file():
        try:
            written = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise OutputError(f"the executor output {path} is not JSON: {err}") from None
        if not isinstance(written, dict):
            raise OutputError(f"the executor output {path} is not a JSON object")
    params: dict[str, Any] = dict(written.get("parameterValues") or {})
    for name, spec in outputs.get("parameters", {}).items():
        file = spec["outputFile"]
        if Path(file).is_file():
            kind = interface.out_params[name].type
            enum = pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Value(kind)
            try:
                params[name] = executor_output_utils.special_dsl_outputpath_read(name, file, enum)
            except ValueError as err:
                raise OutputError(f"output parameter {name!r}: {err}") from None
    for name, spec in interface.out_params.items():
        if name not in params:
            raise OutputError(f"output parameter {name!r} was not written by the task")
        params[name] = typed(spec.type, params[name])
        problem = check_type(spec.type, params[name])
        if problem:
            raise OutputError(f"output parameter {name!r} {problem}")
        if isinstance(params[name], float) and not math.isfinite(params[name]):
            pass  # Vertex passes NaN/inf through a double; consumers decide
    artifacts: dict[str, Any] = {}
    updated = written.get("artifacts") or {}
    for name, spec in interface.out_artifacts.items():
        listed = (updated.get(name) or {}).get("artifacts")
        if not listed:
            listed = outputs["artifacts"][name]["artifacts"]
        artifacts[name] = _finish(listed, spec, project, location, gcs_root)
    return Outputs(params, artifacts)


def _finish(
    listed: list[dict], spec: ArtifactSpec, project: str, location: str, gcs_root: Path | None
) -> Any:
    from vtp.gcs import mount_to_gcs

    finished = []
    for artifact in listed:
        uri = str(artifact.get("uri") or "")
        if gcs_root is not None:  # a path on the local Cloud Storage root is its gs:// URI
            uri = mount_to_gcs(uri, gcs_root) or uri
        finished.append(
            {
                "name": artifact_resource_name(project, location, uri),
                "type": artifact.get("type") or spec.type,
                "uri": uri,
                "metadata": dict(artifact.get("metadata") or {}),
            }
        )
    return finished if spec.is_list else finished[0]
