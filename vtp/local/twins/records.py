"""Local resource ids, records and `gcp_resources` documents for the twins."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path


def new_resource_id() -> str:
    """A numeric id shaped like Vertex's (19 digits, time-ordered)."""
    return f"{time.time_ns() // 1000:016d}{secrets.randbelow(1000):03d}"[-19:]


def write_gcp_resources(path: str, resource_type: str, resource_name: str) -> None:
    """Writes the `gcp_resources` output the way GCPC launchers do, with a local URI."""
    doc = {
        "resources": [{"resourceType": resource_type, "resourceUri": f"local://{resource_name}"}]
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc))


def write_record(directory: Path, name: str, record: dict) -> Path:
    """Atomically (write + rename) stores a JSON record."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    tmp = directory / f".{name}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    os.replace(tmp, target)
    return target
