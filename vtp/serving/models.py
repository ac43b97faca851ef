"""The registered model version to serve: looked up in the local registry, its files found
under the local Cloud Storage root, its predictor chosen from its serving image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vtp.errors import VtpError
from vtp.gcs import gcs_to_mount, is_gcs_uri
from vtp.serving.frameworks import Framework, NotServable, framework_of


@dataclass(frozen=True)
class ServableModel:
    """A model version with everything a local predictor needs."""

    resource_name: str
    display_name: str
    version_id: str
    model_dir: Path
    framework: Framework


def servable(registry, name: str, gcs_root: Path) -> ServableModel:
    """The version `name` (display name, id or resource name, with `@version` / `@alias`)."""
    version = registry.get(name)
    image = (version.container_spec or {}).get("imageUri", "")
    framework = framework_of(image)
    uri = version.artifact_uri
    if not uri:
        raise NotServable(f"model {version.resource_name} has no artifact URI: nothing to serve")
    model_dir = Path(gcs_to_mount(uri, gcs_root)) if is_gcs_uri(uri) else Path(uri)
    if not model_dir.is_dir():
        raise VtpError(
            f"model {version.resource_name}: its artifact directory {uri!r} is not here "
            f"({model_dir} does not exist)"
        )
    return ServableModel(
        resource_name=version.resource_name,
        display_name=version.display_name,
        version_id=version.version_id,
        model_dir=model_dir,
        framework=framework,
    )
