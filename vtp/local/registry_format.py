"""Plain-text views of the local model registry, for `vtp models list|show`."""

from __future__ import annotations

from vtp.cli.text_table import table
from vtp.local.registry import ModelVersion


def _short_time(rfc3339: str) -> str:
    return rfc3339[:19].replace("T", " ") + "Z" if rfc3339 else ""


def _alias_text(version: ModelVersion) -> str:
    return ", ".join(version.version_aliases)


def format_models_table(models: list[ModelVersion]) -> str:
    """A plain-text table of models (one default version each), for `vtp models list`."""
    if not models:
        return "No models registered."
    header = ("DISPLAY NAME", "MODEL ID", "DEFAULT VERSION", "ALIASES", "CREATED", "ARTIFACT URI")
    rows = [
        (
            m.display_name,
            m.model_id,
            m.version_id,
            _alias_text(m),
            _short_time(m.model_create_time or m.create_time),
            m.artifact_uri,
        )
        for m in models
    ]
    return table(header, rows)


def format_model_details(model_versions: list[ModelVersion]) -> str:
    """A plain-text description of one model and its versions, for `vtp models show`."""
    if not model_versions:
        return "No versions."
    default = next((v for v in model_versions if v.is_default), model_versions[-1])
    fields = [
        ("Display name", default.display_name),
        ("Model ID", default.model_id),
        ("Resource name", default.model_resource_name),
        ("Default version", default.version_id),
        ("Created", _short_time(default.model_create_time or default.create_time)),
    ]
    if default.description:
        fields.append(("Description", default.description))
    if default.labels:
        fields.append(("Labels", ", ".join(f"{k}={v}" for k, v in sorted(default.labels.items()))))
    width = max(len(k) for k, _ in fields) + 1
    head = "\n".join(f"{(k + ':').ljust(width)}  {v}" for k, v in fields)
    header = ("VERSION", "ALIASES", "CREATED", "DISPLAY NAME", "IMAGE", "ARTIFACT URI")
    rows = [
        (
            v.version_id,
            _alias_text(v),
            _short_time(v.create_time),
            v.display_name,
            v.container_spec.get("imageUri", ""),
            v.artifact_uri,
        )
        for v in sorted(model_versions, key=lambda v: int(v.version_id))
    ]
    return f"{head}\n\n{table(header, rows)}"
