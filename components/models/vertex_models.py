"""Finding a model version by display name and alias through the Vertex AI Model Registry
API (`google.cloud.aiplatform_v1.ModelServiceClient`), for the champion lookup on Vertex."""

from __future__ import annotations

from typing import Any

from vtp.components.models.lookup import alias_missing, ambiguous


def api_endpoint(location: str) -> str:
    """The regional Vertex AI endpoint: `{location}-aiplatform.googleapis.com`."""
    if location == "global":
        return "aiplatform.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def model_uri(location: str, resource_name: str) -> str:
    """The `VertexModel` artifact URI, as GCPC's `ModelGetOp` writes it."""
    return f"https://{api_endpoint(location)}/v1/{resource_name}"


def model_service_client(location: str, **kwargs: Any):
    """A `ModelServiceClient` on the regional endpoint.

    Args:
        location: The region, e.g. `us-central1`.
        **kwargs: Passed on (`credentials`, `transport`); `api_endpoint` overrides the
            regional endpoint (an `http://` endpoint works with `transport="rest"`).
    """
    from google.cloud import aiplatform_v1

    endpoint = kwargs.pop("api_endpoint", None) or api_endpoint(location)
    return aiplatform_v1.ModelServiceClient(client_options={"api_endpoint": endpoint}, **kwargs)


def display_name_filter(display_name: str) -> str:
    """The `ListModels` filter matching one display name exactly (quotes escaped)."""
    escaped = display_name.replace("\\", "\\\\").replace('"', '\\"')
    return f'display_name="{escaped}"'


def list_models_request(project: str, location: str, display_name: str) -> dict[str, str]:
    """The `ListModelsRequest` for the models carrying `display_name`."""
    return {
        "parent": f"projects/{project}/locations/{location}",
        "filter": display_name_filter(display_name),
    }


def _to_json(model) -> dict[str, Any]:
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    return json_format.MessageToDict(aiplatform_v1.Model.pb(model))


def find_version(
    client, project: str, location: str, display_name: str, alias: str
) -> dict[str, Any] | None:
    """The `Model` JSON (camelCase) of the version holding `alias`, or None without a model.

    Raises:
        RegistryError: several models carry `display_name`, or the model has no version
            with `alias`.
    """
    from google.api_core import exceptions

    models = list(client.list_models(request=list_models_request(project, location, display_name)))
    if not models:
        return None
    if len(models) > 1:
        raise ambiguous(display_name, [m.name for m in models])
    name = models[0].name.split("@", 1)[0]
    try:
        version = client.get_model(name=f"{name}@{alias}")
    except exceptions.NotFound:
        versions = client.list_model_versions(name=name)
        held = sorted({a for v in versions for a in v.version_aliases})
        raise alias_missing(name, alias, held) from None
    return _to_json(version)
