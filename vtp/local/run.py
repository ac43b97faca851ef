"""`vtp run --local`: a compiled pipeline (a catalog pipeline's shipped YAML, or any pipeline
file) run by vtp's local orchestrator (`vtp.local.orchestrator`)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from vtp.errors import VtpError
from vtp.home import LocalHome
from vtp.local.orchestrator.records import SUCCEEDED, RunRecord, TaskRecord

__all__ = [
    "RunFailed",
    "RunRecord",
    "TaskRecord",
    "complete_params",
    "pipeline_file",
    "run_pipeline",
]


class RunFailed(VtpError, RuntimeError):
    """A local pipeline run that did not succeed; `record` tells what ran."""

    record: RunRecord | None = None


class ParameterError(VtpError, ValueError):
    """A pipeline parameter that is unknown, missing or of the wrong type."""


def pipeline_file(target: str | Path) -> Path:
    """The compiled YAML of catalog pipeline `target`, or `target` as a file path.

    Raises:
        VtpError: neither a catalog pipeline nor an existing file.
    """
    from vtp import catalog
    from vtp.shipped import compiled_pipelines

    text = str(target)
    if text in catalog.PIPELINES:
        return compiled_pipelines() / f"{text}.yaml"
    path = Path(text)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            problem = "is not a file" if path.exists() else "does not exist"
            raise VtpError(f"pipeline file {text!r} {problem}")
        return path
    raise catalog.UnknownPipeline(
        f"unknown pipeline {text!r}; known: {', '.join(sorted(catalog.PIPELINES))}, or the "
        "path of a compiled pipeline YAML"
    )


def complete_params(ir, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` checked against the pipeline's declared inputs and completed with defaults.

    Raises:
        ParameterError: an unknown name, a missing required parameter, a wrong type.
    """
    from vtp.local.orchestrator.executor_io import check_type, typed

    inputs = ir.inputs
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in inputs:
            known = ", ".join(sorted(inputs))
            raise ParameterError(f"unknown parameter {name!r}; the pipeline takes: {known}")
        value = typed(inputs[name].type, value)
        problem = check_type(inputs[name].type, value)
        if problem:
            raise ParameterError(f"parameter {name!r} {problem}")
        out[name] = value
    for name, spec in inputs.items():
        if name not in out:
            if spec.has_default:
                out[name] = typed(spec.type, spec.default)
            elif not spec.optional:
                raise ParameterError(f"parameter {name!r} is required (--param {name}=...)")
    return out


def run_pipeline(
    target: str | Path,
    params: Mapping[str, Any],
    *,
    home: LocalHome,
    cache: bool = False,
    verbose: bool = False,
    out: TextIO | None = sys.stderr,
    parallelism: int | None = None,
    fail_fast: bool = False,
    label: str = "",
    standby: bool = True,
) -> RunRecord:
    """Runs catalog pipeline (or pipeline file) `target` locally with `params`.

    Raises:
        RunFailed: the run did not succeed (its record attached).
        VtpError: bad input (the file, a parameter, what the orchestrator refuses), before
            anything runs.
    """
    from vtp.local.orchestrator import default_parallelism, load_pipeline, make_plan
    from vtp.local.orchestrator.runner import (
        RunSettings,
        discard_zygote,
        run_plan,
        start_zygote,
    )

    zygote = start_zygote()
    try:
        ir = load_pipeline(pipeline_file(target))
        plan = make_plan(ir)
        values = complete_params(ir, params)
    except BaseException:
        discard_zygote(zygote)
        raise
    record = run_plan(
        plan,
        values,
        home=home,
        settings=RunSettings(
            parallelism=parallelism or default_parallelism(),
            cache=cache,
            fail_fast=fail_fast,
            standby=standby,
            verbose=verbose,
            progress=out,
            label=label,
            zygote=zygote,
        ),
    )
    return check_record(record)


def check_record(record: RunRecord) -> RunRecord:
    """`record`, or RunFailed when the run did not succeed."""
    if record.state != SUCCEEDED:
        err = RunFailed(f"run {record.run_id} {record.state.lower()}: {record.error}")
        err.record = record
        raise err
    return record
