"""What a lightweight component imported the last time it succeeded in this home, so that
its next run imports it ahead of time, in a standby child of the zygote, while the steps
before it run.

Kept under the home's `cache/imports/`, one JSON list of module names per component (a
component is its source and function: an edited component starts a new list). A list is
only a hint: a module that no longer imports is skipped, and the step itself imports
whatever it needs as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from vtp.local.orchestrator.records import write_json_atomic

IMPORTS_DIR = "imports"


def component_key(source: str, function: str) -> str:
    """The key of a lightweight component: its code and the function it runs."""
    return hashlib.sha256(f"{function}\0{source}".encode()).hexdigest()[:32]


def load(cache_root: Path, key: str) -> list[str]:
    """The modules recorded for `key`; [] when none are (or the file is unreadable)."""
    try:
        modules = json.loads((cache_root / IMPORTS_DIR / f"{key}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(modules, list):
        return []
    return [m for m in modules if isinstance(m, str)]


def save(cache_root: Path, key: str, recorded: Path) -> None:
    """Keeps the modules a step recorded in `recorded` (written by the zygote's child) for
    `key`, replacing the list before; nothing when the step recorded none."""
    try:
        modules = json.loads(recorded.read_text("utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(modules, list):
        return
    folder = cache_root / IMPORTS_DIR
    with contextlib.suppress(OSError):  # a hint: a list that cannot be kept is not kept
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / f"{key}.json", modules)
