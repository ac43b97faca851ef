"""Compiling small pipelines for the orchestrator tests, and reading their run records."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from kfp import compiler


def compile_pipeline(pipeline, directory: Path, name: str | None = None) -> Path:
    """Compiles `pipeline` (a `@dsl.pipeline` function) to `directory/<name>.yaml`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return path


def run_json(home: Path, run_id: str | None = None) -> dict[str, Any]:
    """The run record of `run_id` (default: the only run) under `home`."""
    records = sorted((home / "runs").glob(f"{run_id or '*'}/run.json"))
    assert len(records) == 1, records
    return json.loads(records[0].read_text())


def when(text: str) -> float:
    """An RFC 3339 record time in seconds."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The largest number of spans running at one moment."""
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = best = 0
    for _, delta in points:
        running += delta
        best = max(best, running)
    return best
