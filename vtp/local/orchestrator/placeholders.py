"""Placeholders of compiled components, filled in as Vertex AI Pipelines fills them.

Three layers, in the order a task meets them:

1. Parameter values (`fill_values`): pipeline placeholders a default or a constant holds
   (`{{$.pipeline_job_uuid}}`, GCPC's `{{$.pipeline_google_cloud_project_id}}`...) and
   references to other inputs of the same task (`f"--x={param}"` compiles to
   `{{$.inputs.parameters['pipelinechannel--param']}}`), inside strings, lists and dicts.
2. Structural placeholders of a command line (`{"Concat": [...]}`, `{"IfPresent": ...}`),
   with kfp.local's `placeholder_utils.resolve_struct_placeholders` and `flatten_list`.
3. Every `{{$...}}` of a command-line element (`fill_command`): the executor input (`{{$}}`,
   and `{{$.json_escape[N]}}`: it JSON-escaped N times, the form GCPC puts inside JSON
   payloads), inputs and outputs, pipeline placeholders. A value is inserted as text (a
   string as it is, anything else as JSON); text inserted from a parameter value is not
   scanned again, except for `{{$.json_escape[N]}}`, which GCPC's
   `create_custom_training_job_from_component` leaves inside the `worker_pool_specs` value
   for the launcher's payload.

A placeholder this module does not know raises `PlaceholderError`: it is never left in a
command line or replaced by an empty string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vtp.errors import VtpError


class PlaceholderError(VtpError, ValueError):
    """A placeholder that cannot be filled in."""


_PLACEHOLDER = re.compile(r"\{\{\$(?:\.[^{}]*?)?\}\}")
_JSON_ESCAPE = re.compile(r"\{\{\$\.json_escape\[(\d+)\]\}\}")
_INPUT_PARAM = re.compile(r"^inputs\.parameters\['([^']*)'\]$")
_ARTIFACT = re.compile(
    r"^(inputs|outputs)\.artifacts\['([^']*)'\]\.(uri|path|metadata|metadata\['([^']*)'\])$"
)
_OUTPUT_PARAM = re.compile(r"^outputs\.parameters\['([^']*)'\]\.output_file$")


@dataclass(frozen=True)
class PipelineContext:
    """What the pipeline placeholders stand for in one run."""

    job_name: str
    job_uuid: str
    project: str
    location: str
    pipeline_root: str
    create_time: str
    service_account: str = ""
    persistent_resource_id: str = ""

    @property
    def job_resource_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/pipelineJobs/{self.job_name}"

    def values(self, task_name: str, task_uuid: str) -> dict[str, str]:
        return {
            "pipeline_job_name": self.job_name,
            "pipeline_job_uuid": self.job_uuid,
            "pipeline_job_resource_name": self.job_resource_name,
            "pipeline_task_name": task_name,
            "pipeline_task_uuid": task_uuid,
            "pipeline_root": self.pipeline_root,
            "pipeline_job_create_time_utc": self.create_time,
            # No schedule starts a local run: Vertex fills the creation time then as well.
            "pipeline_job_schedule_time_utc": self.create_time,
            "pipeline_google_cloud_project_id": self.project,
            "pipeline_google_cloud_location": self.location,
            "pipeline_service_account": self.service_account,
            "pipeline_persistent_resource_id": self.persistent_resource_id,
        }


def as_text(value: Any) -> str:
    """How a value is inserted into text: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def fill_values(params: Mapping[str, Any], pipeline: Mapping[str, str]) -> dict[str, Any]:
    """`params` (one task's input parameter values) with the pipeline placeholders and the
    references to other parameters filled in, inside strings, lists and dicts.

    `{{$}}`, `{{$.json_escape[N]}}` and output placeholders are left for the command line.
    """
    raw = dict(params)

    def fill_text(text: str, seen: tuple[str, ...]) -> str:
        def one(match: re.Match) -> str:
            body = match.group(0)[4:-2]
            if body in pipeline:
                return pipeline[body]
            ref = _INPUT_PARAM.match(body)
            if ref and ref.group(1) in raw:
                name = ref.group(1)
                if name in seen:
                    raise PlaceholderError(f"parameter {name!r} refers to itself")
                return as_text(walk(raw[name], (*seen, name)))
            return match.group(0)

        return _PLACEHOLDER.sub(one, text)

    def walk(value: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(value, str):
            return fill_text(value, seen)
        if isinstance(value, list):
            return [walk(v, seen) for v in value]
        if isinstance(value, dict):
            return {walk(k, seen): walk(v, seen) for k, v in value.items()}
        return value

    return {name: walk(value, (name,)) for name, value in raw.items()}


def provided_inputs(executor_input: Mapping[str, Any]) -> list[str]:
    """Inputs with a value, for `IfPresent` (kfp.local's `get_provided_inputs`)."""
    from kfp.local import placeholder_utils

    return placeholder_utils.get_provided_inputs(dict(executor_input))


def expand_structures(parts: list[Any], executor_input: Mapping[str, Any]) -> list[str]:
    """`Concat` and `IfPresent` resolved, nested lists flattened, absent parts dropped."""
    from kfp.local import placeholder_utils

    present = provided_inputs(executor_input)
    try:
        resolved = [placeholder_utils.resolve_struct_placeholders(str(p), present) for p in parts]
    except (ValueError, KeyError, json.JSONDecodeError) as err:
        raise PlaceholderError(
            f"a Concat/IfPresent placeholder cannot be resolved: {err}"
        ) from None
    return [str(p) for p in placeholder_utils.flatten_list(resolved)]


def fill_command(
    parts: list[Any],
    executor_input: Mapping[str, Any],
    pipeline: Mapping[str, str],
    path_of: Callable[[str], str],
) -> list[str]:
    """The command line of a task: every placeholder of `parts` filled in.

    Args:
        parts: The container's command and args, as compiled.
        executor_input: The task's executor input (JSON form).
        pipeline: `PipelineContext.values(...)` of the task.
        path_of: The path under which the process sees an artifact URI.
    """
    text = json.dumps(executor_input)
    out = []
    for part in expand_structures(parts, executor_input):
        out.append(
            _PLACEHOLDER.sub(
                lambda m: _one(m.group(0), executor_input, text, pipeline, path_of), part
            )
        )
    return out


def _escape(text: str, times: int) -> str:
    for _ in range(times):
        text = json.dumps(text)[1:-1]
    return text


def _one(
    placeholder: str,
    executor_input: Mapping[str, Any],
    text: str,
    pipeline: Mapping[str, str],
    path_of: Callable[[str], str],
) -> str:
    if placeholder == "{{$}}":
        return text
    body = placeholder[4:-2]
    if body in pipeline:
        return pipeline[body]
    escape = _JSON_ESCAPE.fullmatch(placeholder)
    if escape:
        return _escape(text, int(escape.group(1)))
    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {})
    if body in ("outputs.output_file", "outputMetadataUri"):
        return outputs["outputFile"]
    ref = _INPUT_PARAM.match(body)
    if ref:
        values = inputs.get("parameterValues", {})
        # An optional input without a value (and without a default) is null, as in KFP: the
        # task's inputs were checked, so a required one always has a value here.
        inserted = as_text(values.get(ref.group(1)))
        return _JSON_ESCAPE.sub(lambda m: _escape(text, int(m.group(1))), inserted)
    ref = _OUTPUT_PARAM.match(body)
    if ref:
        try:
            return outputs["parameters"][ref.group(1)]["outputFile"]
        except KeyError:
            raise PlaceholderError(f"{placeholder}: no output parameter {ref.group(1)!r}") from None
    ref = _ARTIFACT.match(body)
    if ref:
        side, name, field, key = ref.groups()
        holder = inputs if side == "inputs" else outputs
        try:
            artifact = holder["artifacts"][name]["artifacts"][0]
        except (KeyError, IndexError):
            raise PlaceholderError(f"{placeholder}: no {side[:-1]} artifact {name!r}") from None
        if field == "uri":
            return artifact["uri"]
        if field == "path":
            return path_of(artifact["uri"])
        metadata = artifact.get("metadata") or {}
        if key is None:
            return json.dumps(metadata)
        if key not in metadata:
            raise PlaceholderError(f"{placeholder}: artifact {name!r} has no metadata {key!r}")
        return as_text(metadata[key])
    raise PlaceholderError(f"unknown placeholder {placeholder}")


def unknown_pipeline_placeholders(value: Any, pipeline: Mapping[str, str]) -> list[str]:
    """`{{$.pipeline_...}}` placeholders in `value` that `pipeline` cannot fill."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            for m in _PLACEHOLDER.finditer(v):
                body = m.group(0)[4:-2]
                if body.startswith("pipeline_") and body not in pipeline:
                    found.append(m.group(0))
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)

    walk(value)
    return found
