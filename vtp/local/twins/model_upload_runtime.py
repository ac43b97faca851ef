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
