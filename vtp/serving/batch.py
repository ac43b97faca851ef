"""`vtp models predict`: predictions for a JSON Lines file of instances, written as a Vertex
batch prediction job writes them (JSONL input, JSONL output).

Layout, under the output directory: `prediction-<model display name>-<UTC time>/` holding
`prediction.results-00000-of-00001` (one `{"instance": ..., "prediction": ...}` line per
predicted instance, in input order) and `prediction.errors_stats-00000-of-00001` (one
`{"instance": ..., "error": {"status": "INVALID_ARGUMENT", "message": ...}}` line per instance
the model refused), the shapes of Vertex's `PredictionResult`. Instances go to the predictor in
batches; a refused batch is retried one instance at a time, so one bad line costs only itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtp.errors import VtpError
from vtp.serving.models import ServableModel

RESULTS = "prediction.results-00000-of-00001"
ERRORS = "prediction.errors_stats-00000-of-00001"
BATCH_SIZE = 512


class BadInstancesFile(VtpError):
    """The instances file cannot be read as JSON Lines."""


@dataclass(frozen=True)
class BatchResult:
    directory: Path
    predicted: int
    failed: int

    @property
    def results(self) -> Path:
        return self.directory / RESULTS

    @property
    def errors(self) -> Path:
        return self.directory / ERRORS


def read_instances(path: Path) -> Iterator[tuple[int, Any | None, str | None]]:
    """`(line number, instance, problem)` per non-blank line; problem when it is not JSON."""
    if not path.is_file():
        raise BadInstancesFile(f"--instances {str(path)!r} is not a file")
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line), None
                except json.JSONDecodeError as err:
                    yield number, None, f"line {number} is not JSON: {err.msg}"
    except UnicodeDecodeError as err:
        raise BadInstancesFile(f"--instances {str(path)!r} is not UTF-8 text ({err})") from None


def job_directory(out_root: Path, display_name: str, now: dt.datetime | None = None) -> Path:
    """`prediction-<display name>-<YYYY_MM_DDThh_mm_ss_mmmZ>`, as Vertex names it."""
    now = now or dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y_%m_%dT%H_%M_%S_") + f"{now.microsecond // 1000:03d}Z"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", display_name).strip("_") or "model"
    return out_root / f"prediction-{safe}-{stamp}"


def _load_predictor(model: ServableModel):
    module, cls = model.framework.predictor.split(":")
    import importlib

    predictor = getattr(importlib.import_module(module), cls)()
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        predictor.load(str(model.model_dir))  # copies the model into the working directory
    return predictor


def _predict(predictor, instances: list) -> list:
    """Predictions for `instances`, as the server would answer them (HTTPException on a
    refused request, carrying the field)."""
    body = predictor.postprocess(predictor.predict(predictor.preprocess({"instances": instances})))
    return body["predictions"]


def _error(detail: str) -> dict:
    return {"status": "INVALID_ARGUMENT", "message": detail}


def batch_predict(model: ServableModel, instances_path: Path, out_root: Path) -> BatchResult:
    """Predicts every instance of `instances_path` into a new job directory under `out_root`."""
    from fastapi import HTTPException

    rows = list(read_instances(instances_path))
    if not rows:
        raise BadInstancesFile(f"--instances {str(instances_path)!r} holds no instances")
    predictor = _load_predictor(model)
    directory = job_directory(out_root, model.display_name)
    directory.mkdir(parents=True)
    predicted = failed = 0
    with open(directory / RESULTS, "w") as results, open(directory / ERRORS, "w") as errors:

        def refused(instance: Any, message: str) -> None:
            nonlocal failed
            failed += 1
            errors.write(json.dumps({"instance": instance, "error": _error(message)}) + "\n")

        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            good = [(n, inst) for n, inst, problem in batch if problem is None]
            for _, _, problem in batch:
                if problem is not None:
                    refused(None, problem)
            try:
                outputs = _predict(predictor, [inst for _, inst in good]) if good else []
                pairs = list(zip(good, outputs, strict=True))
            except HTTPException:
                pairs = []
                for n, inst in good:  # one at a time: only the refused ones fail
                    try:
                        pairs.append(((n, inst), _predict(predictor, [inst])[0]))
                    except HTTPException as err:
                        detail = str(err.detail).replace("instances[0]", "instance")
                        refused(inst, f"line {n}: {detail}")
            for (_, inst), prediction in pairs:
                results.write(json.dumps({"instance": inst, "prediction": prediction}) + "\n")
                predicted += 1
    return BatchResult(directory, predicted, failed)
