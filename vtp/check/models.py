"""Model upload payloads of a compiled pipeline: `ModelUploadOp`'s own inputs and the serving
container of the `UnmanagedContainerModel` it uploads (a `dsl.importer`'s metadata, or vtp's
`unmanaged_container_model` component)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from vtp.check.ir import Task, artifact_producer, fill
from vtp.check.report import TaskCheck
from vtp.components.specs._proto import check_message
from vtp.components.specs._validate import check_labels, json_int, snake
from vtp.errors import SpecError, VtpError

#: Types of artifacts ModelUploadOp uploads.
UNMANAGED_CONTAINER_MODEL = "google.UnmanagedContainerModel"
#: Vertex's limit on `ModelContainerSpec.deployment_timeout`.
MAX_DEPLOYMENT_SECONDS = 7200

_DURATION = re.compile(r"(\d+)(?:\.\d{1,9})?s")


def check_model_upload(c: TaskCheck, checks_container: Callable[[Task], bool]) -> None:
    """GCPC `ModelUploadOp` (or its twin): display name, labels, aliases, explanation, key,
    and where its model artifact comes from.

    Args:
        c: The task's check.
        checks_container: Whether a producing task checks the serving container itself (an
            upload fed by one needs no run-time note).
    """
    from vtp.check.jobs import stand_in_pool
    from vtp.local.registry_values import checked_aliases, validate_display_name

    name = c.known("display_name")
    if name is not None:
        c.attempt(validate_display_name, name)
    labels = c.known("labels")
    if labels is not None:
        c.attempt(check_labels, "labels", labels)
    aliases = c.known("version_aliases")
    if aliases is not None:
        c.attempt(_prefixed("version_aliases", checked_aliases), aliases, "version_aliases")
    for field, message in (
        ("explanation_metadata", "ExplanationMetadata"),
        ("explanation_parameters", "ExplanationParameters"),
    ):
        value = c.known(field)
        if value:
            c.attempt(check_message, message, value, field)
    key = c.known("encryption_spec_key_name")
    if key is not None:
        from vtp.components.specs import CustomJobSpec

        c.attempt(lambda: CustomJobSpec(primary=stand_in_pool(), encryption_spec_key_name=key))
    producer, output = artifact_producer(c.task, "unmanaged_container_model")
    if producer is None and output == "not set":
        c.problem(
            "unmanaged_container_model is not set: ModelUploadOp takes the model directory "
            "and its serving container (containerSpec) from it"
        )
    elif producer is None:
        c.note(f"unmanaged_container_model comes from {output}")
    elif not checks_container(producer):
        c.note(f"unmanaged_container_model comes from output {output!r} of {producer.label}")


def _prefixed(field: str, fn):
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except SpecError:
            raise
        except VtpError as err:
            raise VtpError(f"{field}: {err}") from None

    return call


def check_importer_model(c: TaskCheck) -> None:
    """A `dsl.importer` of an `UnmanagedContainerModel`: its metadata's `containerSpec` (and
    `predictSchemata`), which ModelUploadOp sends as the model's serving container."""
    importer = (c.task.executor or {}).get("importer") or {}
    metadata = fill(c.task, importer.get("metadata") or {})
    if not metadata.known:
        c.note(f"metadata comes from {metadata.origin}")
        return
    meta = metadata.value
    if not isinstance(meta, Mapping) or "containerSpec" not in meta:
        c.problem(
            "metadata.containerSpec is required: ModelUploadOp sends it as the model's serving "
            "container (at least imageUri)"
        )
        return
    check_container(c, meta["containerSpec"], "metadata.containerSpec")
    schemata = meta.get("predictSchemata")
    if schemata:
        c.attempt(check_message, "PredictSchemata", schemata, "metadata.predictSchemata")


def check_serving_container(c: TaskCheck) -> None:
    """vtp's `unmanaged_container_model`: the `containerSpec` it will write, from its inputs."""
    from vtp.components.models.container import container_spec

    image = c.known("serving_image")
    options = {
        "predict_route": c.known("predict_route"),
        "health_route": c.known("health_route"),
        "port": c.known("serving_port"),
    }
    if image is None:
        return
    kwargs = {k: v for k, v in options.items() if v is not None}
    fields = {"containerSpec.imageUri": "serving_image", "containerSpec.ports": "serving_port"}

    def rename(field: str) -> str:
        for old, new in fields.items():
            if field.startswith(old):
                return new
        return field

    ok, spec = c.attempt(lambda: container_spec(image, **kwargs), rename=rename)
    if ok:
        check_container(c, spec, "containerSpec")


def check_container(c: TaskCheck, spec: object, path: str) -> None:
    """Records every problem of a `ModelContainerSpec` dict (camelCase or snake_case)."""
    c.checked = True
    for err in container_problems(spec, path):
        c.problem(str(err))


def container_problems(spec: object, path: str) -> Iterator[SpecError]:
    """What Vertex refuses in a `ModelContainerSpec`: what the proto cannot parse, a missing
    `imageUri`, ports outside 1-65535, `invokeRoutePrefix` other than `/*` or set together
    with `predictRoute`, and `deploymentTimeout` over 2 hours."""
    if not isinstance(spec, Mapping):
        yield SpecError(path, spec, "must be a mapping (a ModelContainerSpec)")
        return
    try:
        check_message("ModelContainerSpec", spec, path)
    except SpecError as err:
        yield err
        return
    keys = {snake(str(k)): k for k in spec}
    image = spec.get(keys.get("image_uri", "imageUri"))
    if not isinstance(image, str) or not image.strip():
        yield SpecError(f"{path}.imageUri", image, "must be set to the serving container image")
    for list_name in ("ports", "grpc_ports"):
        key = keys.get(list_name)
        for i, port in enumerate(spec.get(key) or [] if key else []):
            yield from _port(port, f"{path}.{key}[{i}]")
    prefix = spec.get(keys.get("invoke_route_prefix", ""), "")
    if prefix:
        if prefix != "/*":
            yield SpecError(f"{path}.invokeRoutePrefix", prefix, 'must be "/*" (the only value)')
        if spec.get(keys.get("predict_route", ""), ""):
            yield SpecError(
                f"{path}.invokeRoutePrefix", prefix, "must be unset when predictRoute is set"
            )
    timeout = spec.get(keys.get("deployment_timeout", ""), "")
    match = _DURATION.fullmatch(timeout) if isinstance(timeout, str) else None
    if match and int(match[1]) > MAX_DEPLOYMENT_SECONDS:
        yield SpecError(
            f"{path}.deploymentTimeout",
            timeout,
            f"must be at most {MAX_DEPLOYMENT_SECONDS}s (2 hours)",
        )


def _port(port: object, path: str) -> Iterator[SpecError]:
    allowed = "must be a port number from 1 to 65535"
    if not isinstance(port, Mapping):
        return
    key = next((k for k in port if snake(str(k)) == "container_port"), "containerPort")
    value = port.get(key)
    try:
        number = json_int(f"{path}.{key}", value)
    except SpecError:
        yield SpecError(f"{path}.{key}", value, allowed)
        return
    if not 1 <= number <= 65535:
        yield SpecError(f"{path}.{key}", value, allowed)
