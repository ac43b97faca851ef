"""Local resource ids, records and `gcp_resources` documents for the twins."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
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
    """Atomically (write + rename) stores a JSON record; a failed write (a full disk) leaves
    the previous record as it was."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    tmp = directory / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(record, indent=2, sort_keys=True, default=str))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target


#: Set by the local orchestrator for everything a run starts.
RUN_ID_ENV = "VTP_RUN_ID"


def owner() -> dict:
    """Who runs a local job: this process (pid and start time, which identify it even after
    the pid is reused) and the run, so a job left RUNNING by a killed process is recognised."""
    from vtp.local.orchestrator.records import process_start_time

    pid = os.getpid()
    return {
        "owner_pid": pid,
        "owner_start": process_start_time(pid),
        "run_id": os.environ.get(RUN_ID_ENV, ""),
    }


def existing_resource(path: str, collection: str) -> str | None:
    """The resource name a `gcp_resources` file already holds (as GCPC's launchers read it
    after a restart), if it names a local resource of `collection` (`customJobs`...)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        uri = doc["resources"][0]["resourceUri"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    match = re.search(rf"(projects/[^/]+/locations/[^/]+/{collection}/[^/]+)$", str(uri))
    return match.group(1) if match and str(uri).startswith("local://") else None
