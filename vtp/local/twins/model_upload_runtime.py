"""What the model upload twin does: one atomic upload into the local registry."""

from __future__ import annotations

from vtp.errors import SpecError
from vtp.home import registry_db

RESOURCE_NAME_KEY = "resourceName"
LOCAL_MODEL_URI_PREFIX = "vtp-local://"
DEFAULT_ALIAS = "default"


def upload_to_local_registry(
    *,
    gcp_resources_path: str,
    model,
    project: str,
    location: str,
    display_name: str,
    description: str,
    parent_model,
    unmanaged_container_model,
    explanation_metadata: dict,
    explanation_parameters: dict,
    version_aliases: list,
    labels: dict,
    encryption_spec_key_name: str,
) -> str:
    """Uploads and fills the `model` output like GCPC's launcher; returns the resource name."""
    from vtp.local.registry import LocalModelRegistry
    from vtp.local.twins.records import write_gcp_resources

    if unmanaged_container_model is None:
        raise SpecError(
            "unmanaged_container_model", None, "is required by the local registry (a model URI)"
        )
    if bool(explanation_metadata) != bool(explanation_parameters):
        raise SpecError(
            "explanation_metadata/explanation_parameters",
            "only one set",
            "must be given together",
        )
    meta = dict(unmanaged_container_model.metadata or {})
    parent = None
    if parent_model is not None:
        parent = (parent_model.metadata or {}).get(RESOURCE_NAME_KEY) or parent_model.uri
    aliases = [str(a) for a in version_aliases]
    registry = LocalModelRegistry(registry_db(), project=project, location=location)
    version = registry.upload(
        display_name=display_name,
        description=description,
        artifact_uri=unmanaged_container_model.uri,
        container_spec=meta.get("containerSpec", {}),
        predict_schemata=meta.get("predictSchemata") or None,
        parent_model=parent,
        # The API (which GCPC calls) moves `default` only when asked to; a model's first
        # version always gets it. (The Python SDK's `is_default_version=True` is the SDK
        # adding "default" to the aliases for you.)
        version_aliases=[a for a in aliases if a != DEFAULT_ALIAS],
        is_default_version=DEFAULT_ALIAS in aliases,
        labels={str(k): str(v) for k, v in labels.items()},
        metadata={
            "explanationSpec": {
                "metadata": explanation_metadata,
                "parameters": explanation_parameters,
            }
        }
        if explanation_metadata
        else None,
    )
    resource_name = version.resource_name
    model.uri = LOCAL_MODEL_URI_PREFIX + resource_name
    model.metadata[RESOURCE_NAME_KEY] = resource_name
    write_gcp_resources(gcp_resources_path, "Model", version.model_resource_name)
    shown = ", ".join(version.version_aliases) or "none"
    print(f"uploaded {display_name!r} as {resource_name} (aliases: {shown})")
    if encryption_spec_key_name:
        print("notice: encryption_spec_key_name is recorded by Vertex only; ignored locally")
    return resource_name


def upload_from_launcher(
    *,
    project: str,
    location: str,
    payload: str,
    gcp_resources: str,
    executor_input: str,
    parent_model_name: str | None = None,
    log=print,
) -> str:
    """What GCPC's `upload_model` launcher does, into the local registry: the same `Model`
    request (GCPC's own `append_unmanaged_model_artifact_into_payload` and empty-field
    removal), then the `model` output artifact written as the launcher writes it
    (`artifact_utils.update_output_artifacts`). Returns the version's resource name.

    Raises:
        SpecError: the payload is not JSON, or names no model artifact.
        RegistryError: the registry refuses the upload (an unknown parent, a bad label...).
    """
    import json

    from google_cloud_pipeline_components.container.utils import artifact_utils
    from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import json_util
    from google_cloud_pipeline_components.container.v1.model.upload_model import remote_runner
    from google_cloud_pipeline_components.types.artifact_types import VertexModel

    from vtp.local.registry import LocalModelRegistry
    from vtp.local.twins.records import write_gcp_resources

    try:
        spec = json.loads(payload, strict=False)
    except json.JSONDecodeError as err:
        raise SpecError("payload", payload[:200], f"must be the Model as JSON ({err})") from None
    model = json_util.recursive_remove_empty(
        remote_runner.append_unmanaged_model_artifact_into_payload(executor_input, spec)
    )
    explanation = (spec.get("explanation_spec") or {}).get("metadata")
    if explanation:
        model.setdefault("explanation_spec", {})["metadata"] = explanation
    if not model.get("artifact_uri"):
        raise SpecError(
            "unmanaged_container_model", None, "is required by the local registry (a model URI)"
        )
    aliases = [str(a) for a in model.get("version_aliases", [])]
    parent = parent_model_name.rsplit("@", 1)[0] if parent_model_name else None
    registry = LocalModelRegistry(registry_db(), project=project, location=location)
    version = registry.upload(
        display_name=model.get("display_name", ""),
        description=model.get("description", ""),
        artifact_uri=model["artifact_uri"],
        container_spec=model.get("container_spec", {}),
        predict_schemata=model.get("predict_schemata") or None,
        parent_model=parent,
        version_aliases=[a for a in aliases if a != DEFAULT_ALIAS],
        is_default_version=DEFAULT_ALIAS in aliases,
        labels={str(k): str(v) for k, v in (model.get("labels") or {}).items()},
        metadata={"explanationSpec": model["explanation_spec"]}
        if model.get("explanation_spec")
        else None,
    )
    resource_name = version.resource_name
    write_gcp_resources(gcp_resources, "Model", version.model_resource_name)
    artifact_utils.update_output_artifacts(
        executor_input,
        [VertexModel.create("model", LOCAL_MODEL_URI_PREFIX + resource_name, resource_name)],
    )
    shown = ", ".join(version.version_aliases) or "none"
    log(f"uploaded {version.display_name!r} as {resource_name} (aliases: {shown})")
    if (model.get("encryption_spec") or {}).get("kms_key_name"):
        log("notice: encryption_spec_key_name is recorded by Vertex only; ignored locally")
    return resource_name


def get_from_launcher(
    *, project: str, location: str, model_name: str, executor_input: str, log=print
) -> str:
    """What GCPC's `get_model` launcher does, from the local registry: the `model` output
    artifact of `projects/P/locations/L/models/NAME` (NAME: an id, `id@version` or
    `id@alias`). Returns the version's resource name.

    Raises:
        RegistryError: no such model or version.
    """
    from google_cloud_pipeline_components.container.utils import artifact_utils
    from google_cloud_pipeline_components.types.artifact_types import VertexModel

    from vtp.local.registry import LocalModelRegistry

    if not project or not location:
        raise SpecError(
            "model_name",
            model_name,
            "must be in the format projects/{project}/locations/{location}/models/{model}",
        )
    path = registry_db()
    registry = LocalModelRegistry(path, project=project, location=location)
    version = registry.get(f"projects/{project}/locations/{location}/models/{model_name}")
    resource_name = version.resource_name
    artifact_utils.update_output_artifacts(
        executor_input,
        [VertexModel.create("model", LOCAL_MODEL_URI_PREFIX + resource_name, resource_name)],
    )
    log(f"model {resource_name} ({version.display_name!r})")
    return resource_name
