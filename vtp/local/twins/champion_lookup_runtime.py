"""What the champion lookup twin does: read the local model registry as Vertex's
`ListModels` (by display name) and `GetModel` (`name@alias`) would answer."""

from __future__ import annotations

from typing import Any

from vtp.components.models.lookup import alias_missing, ambiguous, versioned_name
from vtp.home import registry_db
from vtp.local.twins.model_upload_runtime import LOCAL_MODEL_URI_PREFIX


def find_local_version(
    project: str, location: str, display_name: str, alias: str
) -> dict[str, Any] | None:
    """The `Model` JSON of the version holding `alias`, or None without a model.

    Models are matched on the display name of their default version, as `ListModels`
    lists them. A missing registry database holds no models.

    Raises:
        RegistryError: several models carry `display_name`, or the model has no version
            with `alias`.
    """
    from vtp.local.registry import LocalModelRegistry

    path = registry_db()
    if not path.exists():
        return None
    registry = LocalModelRegistry(path, project=project, location=location)
    models = [m for m in registry.list_models() if m.display_name == display_name]
    if not models:
        return None
    if len(models) > 1:
        raise ambiguous(display_name, [m.model_resource_name for m in models])
    name = models[0].model_resource_name
    versions = registry.list_versions(name)
    for version in versions:
        if alias in version.version_aliases or alias == version.version_id:
            return version.to_vertex_dict()
    raise alias_missing(name, alias, sorted({a for v in versions for a in v.version_aliases}))


def local_model_uri(model: dict[str, Any]) -> str:
    """The artifact URI the upload twin gives a local model version."""
    return LOCAL_MODEL_URI_PREFIX + versioned_name(model)
