"""Values the local model registry accepts: aliases, labels, names, container specs.

Each check follows the Vertex Model Registry's rules (see `registry.py`) and raises
RegistryError naming the value and what is allowed.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from vtp.errors import RegistryError

DEFAULT_ALIAS = "default"
MAX_DISPLAY_NAME = 128
MAX_LABELS = 64
MAX_LABEL_CHARS = 63

_ALIAS_RE = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
_MODEL_ID_RE = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
_CONTAINER_FIELDS = frozenset(
    {
        "imageUri",
        "command",
        "args",
        "env",
        "ports",
        "predictRoute",
        "healthRoute",
        "invokeRoutePrefix",
        "grpcPorts",
        "deploymentTimeout",
        "sharedMemorySizeMb",
        "startupProbe",
        "healthProbe",
        "livenessProbe",
    }
)
_SCHEMATA_FIELDS = frozenset({"instanceSchemaUri", "parametersSchemaUri", "predictionSchemaUri"})


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _camel_keys(value: Any, where: str) -> Any:
    """Deep copy of `value` with snake_case dict keys turned into Vertex's camelCase."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise RegistryError(f"{where} keys must be strings, got {key!r}")
            camel = _camel(key)
            if camel in out:
                raise RegistryError(f"{where} sets {camel!r} twice (as {key!r} and {camel!r})")
            out[camel] = _camel_keys(item, f"{where}.{camel}")
        return out
    if isinstance(value, list | tuple):
        return [_camel_keys(item, where) for item in value]
    return value


def json_copy(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"{where} must be JSON-serialisable, got {value!r}: {exc}") from exc


def normalise_container_spec(spec: Mapping[str, Any]) -> dict:
    """Vertex `ModelContainerSpec` JSON (camelCase) from camelCase or snake_case keys."""
    if not isinstance(spec, Mapping):
        raise RegistryError(f"container_spec must be a mapping with 'imageUri', got {spec!r}")
    out = json_copy(_camel_keys(spec, "container_spec"), "container_spec")
    unknown = sorted(set(out) - _CONTAINER_FIELDS)
    if unknown:
        raise RegistryError(
            f"container_spec has unknown fields {unknown}; allowed: {sorted(_CONTAINER_FIELDS)}"
        )
    image = out.get("imageUri")
    if not isinstance(image, str) or not image.strip():
        raise RegistryError(f"container_spec.imageUri must be a non-empty image URI, got {image!r}")
    return out


def normalise_schemata(schemata: Mapping[str, Any] | None) -> dict | None:
    if not schemata:
        return None
    if not isinstance(schemata, Mapping):
        raise RegistryError(f"predict_schemata must be a mapping, got {schemata!r}")
    out = json_copy(_camel_keys(schemata, "predict_schemata"), "predict_schemata")
    unknown = sorted(set(out) - _SCHEMATA_FIELDS)
    if unknown:
        raise RegistryError(
            f"predict_schemata has unknown fields {unknown}; allowed: {sorted(_SCHEMATA_FIELDS)}"
        )
    for key, value in out.items():
        if not isinstance(value, str):
            raise RegistryError(f"predict_schemata.{key} must be a URI string, got {value!r}")
    return {k: v for k, v in out.items() if v} or None


def validate_alias(alias: object) -> str:
    """Return `alias` if Vertex accepts it as a version alias, else raise RegistryError."""
    if not isinstance(alias, str):
        raise RegistryError(f"version alias must be a string, got {alias!r}")
    if alias.isdigit():
        raise RegistryError(
            f"version alias {alias!r} looks like a version id; aliases must start with a "
            "lowercase letter ([a-z][a-zA-Z0-9-]{0,126}[a-z0-9])"
        )
    if not _ALIAS_RE.fullmatch(alias):
        raise RegistryError(
            f"version alias {alias!r} is not allowed: it must match "
            "[a-z][a-zA-Z0-9-]{0,126}[a-z0-9] (2-128 characters, starting with a lowercase "
            "letter, ending with a lowercase letter or digit)"
        )
    return alias


def checked_aliases(aliases: Sequence[str], where: str) -> list[str]:
    if isinstance(aliases, str):
        raise RegistryError(f"{where} must be a list of aliases, got the string {aliases!r}")
    return list(dict.fromkeys(validate_alias(a) for a in aliases))


def _label_part_ok(text: str) -> bool:
    return all(
        ch in "_-" or ch in string.digits or (ch.isalpha() and not ch.isupper()) for ch in text
    )


def validate_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """Return a copy of `labels` if they follow Cloud label rules, else raise RegistryError."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise RegistryError(f"labels must be a mapping of strings, got {labels!r}")
    if len(labels) > MAX_LABELS:
        raise RegistryError(f"labels has {len(labels)} entries; at most {MAX_LABELS} allowed")
    for key, value in labels.items():
        if (
            not isinstance(key, str)
            or not 1 <= len(key) <= MAX_LABEL_CHARS
            or not (key[0].isalpha() and not key[0].isupper())
            or not _label_part_ok(key)
        ):
            raise RegistryError(
                f"label key {key!r} is not allowed: 1-{MAX_LABEL_CHARS} characters, starting "
                "with a lowercase letter, of lowercase letters, digits, '_' and '-'"
            )
        if not isinstance(value, str) or len(value) > MAX_LABEL_CHARS or not _label_part_ok(value):
            raise RegistryError(
                f"label {key!r} has value {value!r}, which is not allowed: at most "
                f"{MAX_LABEL_CHARS} characters of lowercase letters, digits, '_' and '-'"
            )
    return dict(labels)


def validate_display_name(display_name: object) -> str:
    if not isinstance(display_name, str) or not 1 <= len(display_name) <= MAX_DISPLAY_NAME:
        raise RegistryError(
            f"display_name must be a string of 1-{MAX_DISPLAY_NAME} characters, "
            f"got {display_name!r}"
        )
    return display_name


def validate_model_id(model_id: object) -> str:
    if not isinstance(model_id, str) or not _MODEL_ID_RE.fullmatch(model_id):
        raise RegistryError(
            f"model_id {model_id!r} is not allowed: 1-63 characters of [a-z0-9_-], "
            "not starting with a digit or '-'"
        )
    return model_id


def version_sort_key(alias: str) -> tuple[bool, str]:
    return (alias != DEFAULT_ALIAS, alias)
