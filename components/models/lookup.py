"""What a champion lookup writes, on either target: the `google.VertexModel` artifact of the
model version that holds an alias, filled from that version's Vertex `Model` JSON.

The artifact carries `metadata["resourceName"]` (`projects/P/locations/L/models/ID@VERSION`,
what `ModelUploadOp` reads from `parent_model`), and `artifactUri` and `containerSpec`, so the
champion can be measured again on the current test split (`champion_model`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from vtp.errors import RegistryError, SpecError

FOUND = "found"
NONE = "none"

RESOURCE_NAME_KEY = "resourceName"
ARTIFACT_URI_KEY = "artifactUri"
CONTAINER_SPEC_KEY = "containerSpec"

#: `Model.version_aliases` format (google.cloud.aiplatform_v1), or a version id.
_ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]|\d+")


def check_lookup(project: str, location: str, model_display_name: str, alias: str) -> None:
    """Refuses empty names and an alias Vertex could not hold.

    Raises:
        SpecError: naming the input.
    """
    for field, value in (
        ("project", project),
        ("location", location),
        ("model_display_name", model_display_name),
    ):
        if not isinstance(value, str) or not value.strip():
            raise SpecError(field, value, "must be a non-empty string")
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise SpecError(
            "alias",
            alias,
            "must be a version alias ([a-z][a-zA-Z0-9-]{0,126}[a-z0-9], e.g. default or "
            "champion) or a version id",
        )


def versioned_name(model: Mapping[str, Any]) -> str:
    """`projects/P/locations/L/models/ID@VERSION` of a `Model` JSON (camelCase keys)."""
    name = str(model.get("name", "")).split("@", 1)[0]
    version = str(model.get("versionId", ""))
    if not name or not version:
        raise RegistryError(f"model JSON lacks name or versionId: {dict(model)!r}")
    return f"{name}@{version}"


def ambiguous(display_name: str, names: Sequence[str]) -> RegistryError:
    """The error for a display name that more than one model carries."""
    return RegistryError(
        f"model_display_name {display_name!r} is ambiguous: {len(names)} models carry it "
        f"({', '.join(names)}); give the champion's models a unique display name"
    )


def alias_missing(model_name: str, alias: str, aliases: Sequence[str]) -> RegistryError:
    """The error for a model none of whose versions holds `alias`."""
    held = ", ".join(aliases) or "none"
    return RegistryError(
        f"model {model_name} has no version with alias {alias!r} (aliases held: {held}); "
        "add the alias to a version, or look up alias 'default'. Not treated as 'no "
        "champion': that would upload a second model with the same display name"
    )


def write_champion(champion, model: Mapping[str, Any], uri: str) -> str:
    """Fills the `VertexModel` artifact from a version's `Model` JSON; returns its name."""
    resource_name = versioned_name(model)
    champion.uri = uri
    champion.metadata[RESOURCE_NAME_KEY] = resource_name
    champion.metadata[ARTIFACT_URI_KEY] = str(model.get("artifactUri", ""))
    champion.metadata[CONTAINER_SPEC_KEY] = dict(model.get("containerSpec") or {})
    aliases = ", ".join(model.get("versionAliases") or []) or "none"
    print(
        f"champion: {model.get('displayName', '')!r} {resource_name} (aliases: {aliases}), "
        f"model files {champion.metadata[ARTIFACT_URI_KEY] or 'not recorded'}"
    )
    return resource_name
