"""Step caching (`vtp run --cache`), keyed as KFP's backend keys it.

The key is the SHA-256 of the JSON of KFP's `CacheKey` message
(`backend/src/v2/cacheutils/cache.go`, `GenerateCacheKey`): the names of the input artifacts,
the input parameter values, the output artifacts' names and types, the output parameters'
types, and the container's image and command with its arguments as compiled; a task's own
`cache_key` (`set_caching_options(cache_key=...)`) replaces it. As on KFP, a lookup is scoped
to the pipeline's name, and only tasks whose caching is enabled in the YAML are looked up.

Artifact names are stable local names derived from the artifact's URI (see
`executor_io.artifact_resource_name`), so a step whose inputs come from a cached step hits the
cache too. An entry whose artifacts no longer exist on the local disk is a miss. Entries are
written atomically; concurrent runs share the cache safely.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vtp.local.orchestrator.executor_io import Outputs
from vtp.local.orchestrator.ir import Interface
from vtp.local.orchestrator.records import now, safe_name, write_json_atomic


def cache_key(
    executor_input: Mapping[str, Any],
    interface: Interface,
    executor: Mapping[str, Any],
    custom_key: str = "",
) -> str:
    """The fingerprint of one task execution."""
    if custom_key:
        return hashlib.sha256(custom_key.encode()).hexdigest()
    inputs = executor_input.get("inputs", {})
    container = executor.get("container") or {}
    key = {
        "inputArtifactNames": {
            name: {"artifactNames": [a.get("name", "") for a in listed.get("artifacts", [])]}
            for name, listed in (inputs.get("artifacts") or {}).items()
        },
        "inputParameterValues": inputs.get("parameterValues") or {},
        "outputArtifactsSpec": {
            name: {"name": name, "type": spec.type}
            for name, spec in interface.out_artifacts.items()
        },
        "outputParametersSpec": {name: spec.type for name, spec in interface.out_params.items()},
        "containerSpec": {
            "image": container.get("image", ""),
            "cmdArgs": [*(container.get("command") or []), *(container.get("args") or [])],
        },
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class StepCache:
    """Cached outputs under `<root>/<pipeline>/<key>.json`."""

    def __init__(self, root: Path, pipeline: str):
        self.dir = root / safe_name(pipeline)

    def get(self, key: str, exists: Callable[[str], bool]) -> tuple[Outputs, dict] | None:
        """The outputs cached under `key` and where they came from; None on a miss."""
        path = self.dir / f"{key}.json"
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        outputs = Outputs.from_json(entry.get("outputs") or {})
        for value in outputs.artifacts.values():
            for artifact in value if isinstance(value, list) else [value]:
                if not exists(str(artifact.get("uri", ""))):
                    return None
        return outputs, dict(entry.get("source") or {})

    def put(self, key: str, outputs: Outputs, source: Mapping[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(
                self.dir / f"{key}.json",
                {"outputs": outputs.to_json(), "source": {**source, "time": now()}},
            )
