"""`vtp run --local`: a pipeline built for the LOCAL target, executed with kfp.local."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from vtp.errors import VtpError
from vtp.home import LocalHome
from vtp.local.logtap import LogTap, StepEvent

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class RunFailed(VtpError, RuntimeError):
    """A local pipeline run that did not succeed; `record` tells what ran."""

    record: RunRecord | None = None


@dataclass
class TaskRecord:
    name: str
    status: str
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    state: str
    params: dict[str, Any]
    run_dir: Path
    log_path: Path
    seconds: float
    tasks: dict[str, TaskRecord]
    error: str = ""
    failure_log: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "state": self.state,
            "params": self.params,
            "run_dir": str(self.run_dir),
            "log": str(self.log_path),
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "failure_log": self.failure_log,
            "tasks": {
                n: {"status": t.status, "seconds": round(t.seconds, 3), "outputs": t.outputs}
                for n, t in self.tasks.items()
            },
        }


class Progress:
    """Prints one line per step as kfp.local starts and ends it."""

    def __init__(self, out: TextIO):
        self.out = out

    def __call__(self, event: StepEvent) -> None:
        if event.kind == "start":
            line = f"  ...  {event.task}"
        elif event.kind == "end":
            mark = "ok " if event.status == "SUCCESS" else "FAIL"
            line = f"  {mark}  {event.task}  ({event.seconds:.1f} s)"
        elif event.kind == "skip":
            line = f"  skip {event.task}  (condition false)"
        elif event.kind == "trial":
            line = f"         trial {event.task}: {event.status.strip()}"
        else:
            line = f"  WARN kfp.local could not evaluate a condition: {event.status}"
        print(line, file=self.out, flush=True)


def run_pipeline(
    name: str,
    params: dict[str, Any],
    *,
    home: LocalHome,
    cache: bool = False,
    verbose: bool = False,
    out: TextIO = sys.stderr,
) -> RunRecord:
    """Runs catalog pipeline `name` locally with typed `params`; raises RunFailed on failure."""
    from vtp import catalog
    from vtp.components.targets import LOCAL

    pipeline = catalog.pipeline_module(name).build(LOCAL)
    return run_pipeline_function(
        pipeline, name, params, home=home, cache=cache, verbose=verbose, out=out
    )


def run_pipeline_function(
    pipeline: Callable[..., Any],
    name: str,
    params: dict[str, Any],
    *,
    home: LocalHome,
    cache: bool = False,
    verbose: bool = False,
    out: TextIO = sys.stderr,
) -> RunRecord:
    """Runs any pipeline built for the LOCAL target (e.g. another team's) like `run_pipeline`.

    `name` labels the run record. Raises RunFailed on failure.
    """
    from kfp import local

    home.create().export()
    started = time.monotonic()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
    record_dir = home.runs / f"{name}-{stamp}"
    record_dir.mkdir(parents=True)
    log_path = record_dir / "run.log"
    before = set(home.pipeline_root.iterdir())
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(home.pipeline_root),
        raise_on_error=True,
        enable_caching=cache,
        cache_root=str(home.cache_root),
    )
    print(f"vtp: running pipeline {name!r} locally (home {home.root})", file=out, flush=True)
    error = ""
    state = "SUCCEEDED"
    with open(log_path, "w") as log:
        tap = LogTap(log=log, on_event=Progress(out), echo=sys.stdout if verbose else None)
        try:
            with (
                contextlib.redirect_stdout(tap),
                warnings.catch_warnings(),
            ):
                for noise in (
                    ".*non-Python base image.*",
                    ".*no effect in the current local runner.*",
                ):
                    warnings.filterwarnings("ignore", message=noise)
                pipeline(**params)
        except KeyboardInterrupt:
            state, error = "CANCELLED", "interrupted"
        except Exception as err:  # kfp.local raises RuntimeError naming the failed task
            state, error = "FAILED", str(err)
        finally:
            tap.close_tap()
    run_dirs = sorted(set(home.pipeline_root.iterdir()) - before)
    run_dir = run_dirs[-1] if run_dirs else home.pipeline_root
    tasks = _task_records(run_dir, tap.events)
    unresolved = [e.status for e in tap.events if e.kind == "unresolved"]
    if state == "SUCCEEDED" and unresolved:
        state = "FAILED"
        error = "kfp.local could not evaluate a condition, a branch was skipped: " + "; ".join(
            unresolved
        )
    record = RunRecord(
        run_id=run_dir.name,
        pipeline=name,
        state=state,
        params=params,
        run_dir=run_dir,
        log_path=log_path,
        seconds=time.monotonic() - started,
        tasks=tasks,
        error=_clean(error),
    )
    failed = [t.name for t in tasks.values() if t.status not in ("SUCCESS", "SKIPPED")]
    if state != "SUCCEEDED" and failed:
        record.failure_log = _task_log_tail(log_path, failed[-1])
    (record_dir / "run.json").write_text(json.dumps(record.to_json(), indent=2, default=str))
    if state != "SUCCEEDED":
        raise _failure(record)
    return record


def _failure(record: RunRecord) -> RunFailed:
    err = RunFailed(f"run {record.run_id} {record.state.lower()}: {record.error}")
    err.record = record
    return err


def _task_log_tail(log_path: Path, task: str, lines: int = 30) -> list[str]:
    """The last `lines` lines a task printed (its traceback or the failing replica's tail)."""
    block: list[str] = []
    inside = False
    for line in log_path.read_text(errors="replace").splitlines():
        if f"Executing task '{task}'" in line:
            inside, block = True, []
        elif inside and f"Task '{task}' finished" in line:
            inside = False
        elif inside and line.strip():
            block.append(line.rstrip())
    return block[-lines:]


def _clean(text: str) -> str:
    return _ANSI.sub("", text)


def _task_records(run_dir: Path, events: list[StepEvent]) -> dict[str, TaskRecord]:
    tasks: dict[str, TaskRecord] = {}
    for e in events:
        if e.kind == "end":
            tasks[e.task] = TaskRecord(e.task, e.status, e.seconds)
        elif e.kind == "skip":
            tasks[e.task] = TaskRecord(e.task, "SKIPPED")
        elif e.kind == "start":
            tasks.setdefault(e.task, TaskRecord(e.task, "RUNNING"))
    for name, task in tasks.items():
        out_file = run_dir / name / "executor_output.json"
        if out_file.is_file():
            task.outputs = _outputs(json.loads(out_file.read_text()))
    return tasks


def _outputs(executor_output: dict) -> dict[str, Any]:
    """Flattens an executor output: parameters by name, artifacts as {uri, metadata}."""
    out: dict[str, Any] = dict(executor_output.get("parameterValues", {}))
    for name, entry in executor_output.get("artifacts", {}).items():
        arts = entry.get("artifacts", [])
        if arts:
            out[name] = {"uri": arts[0].get("uri"), "metadata": arts[0].get("metadata", {})}
    return out
