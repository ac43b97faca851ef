"""Run records: one directory per run, fixed before the first step, written atomically.

`$VTP_HOME/runs/<run_id>/`:

- `run.json`: the run (pipeline, file, parameters, state, times, error, the process running
  it) and every task (state, times, attempts, inputs, outputs with artifact URIs and
  metadata, log, cache key, the Vertex-like resources it created). Rewritten with write +
  rename after every change, so a reader sees the previous record or the next, never a part
  of one; a write that fails (a full disk) leaves the previous record in place.
- `events.jsonl`: what happened, one JSON object per line, in order (the source of the
  progress lines; appended and flushed line by line).
- `logs/<task>.log`: each task's output; `run.log`: every task's output, prefixed.

The run id is `<pipeline>-<UTC time>-<random>`, reserved by creating its directory (an
existing directory is never reused), so concurrent runs in one home never share a record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "run.log"

#: Task states, as Vertex names a pipeline task's (plus CACHED for a cache hit).
PENDING, RUNNING, SUCCEEDED, CACHED = "PENDING", "RUNNING", "SUCCEEDED", "CACHED"
FAILED, SKIPPED, NOT_TRIGGERED, CANCELLED = "FAILED", "SKIPPED", "NOT_TRIGGERED", "CANCELLED"
DONE_STATES = frozenset({SUCCEEDED, CACHED, FAILED, SKIPPED, NOT_TRIGGERED, CANCELLED})
OK_STATES = frozenset({SUCCEEDED, CACHED})

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def now() -> str:
    """The current UTC time, RFC 3339 with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_json_atomic(path: Path, value: Any) -> None:
    """Write + rename (in the same directory): readers never see a partial file. On failure
    (e.g. a full disk) the temporary file is removed and the old file is left as it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(value, indent=2, default=str))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def safe_name(text: str) -> str:
    """A file name for a task path (`for-loop-2[0]/train` -> `for-loop-2-0-train`)."""
    return _SAFE.sub("-", text).strip("-") or "task"


@dataclass
class Attempt:
    number: int
    started: str
    ended: str = ""
    state: str = RUNNING
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started": self.started,
            "ended": self.ended,
            "state": self.state,
            "error": self.error,
        }


@dataclass
class TaskRecord:
    """One task of a run (a step, or a DAG: a condition, a loop, a nested pipeline)."""

    name: str
    display_name: str
    kind: str
    state: str = PENDING
    parent: str = ""
    started: str = ""
    ended: str = ""
    seconds: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    cache_key: str = ""
    resources: list[str] = field(default_factory=list)
    error: str = ""
    #: A failure's own line (the program's exception or error line) and the log it is in.
    cause: str = ""
    cause_log: str = ""
    _t0: float = 0.0

    @property
    def status(self) -> str:
        return self.state

    def to_json(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "kind": self.kind,
            "state": self.state,
            "parent": self.parent,
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.seconds, 3),
            "attempts": [a.to_json() for a in self.attempts],
            "inputs": self.inputs,
            "outputs": self.outputs,
            "log": self.log,
            "cache_key": self.cache_key,
            "resources": self.resources,
            "error": self.error,
            "cause": self.cause,
            "cause_log": self.cause_log,
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> TaskRecord:
        return cls(
            name=name,
            display_name=data.get("display_name", name),
            kind=data.get("kind", ""),
            state=data.get("state", PENDING),
            parent=data.get("parent", ""),
            started=data.get("started", ""),
            ended=data.get("ended", ""),
            seconds=float(data.get("seconds") or 0.0),
            attempts=[
                Attempt(a["number"], a["started"], a.get("ended", ""), a["state"], a["error"])
                for a in data.get("attempts", [])
            ],
            inputs=dict(data.get("inputs") or {}),
            outputs=dict(data.get("outputs") or {}),
            log=data.get("log", ""),
            cache_key=data.get("cache_key", ""),
            resources=list(data.get("resources") or []),
            error=data.get("error", ""),
            cause=data.get("cause", ""),
            cause_log=data.get("cause_log", ""),
        )


@dataclass
class RunRecord:
    """A local run. `run_dir` is the local directory of the run's artifacts, `record_dir` the
    directory of this record."""

    run_id: str
    pipeline: str
    pipeline_file: str
    state: str
    params: dict[str, Any]
    record_dir: Path
    run_dir: Path
    created: str
    pid: int = 0
    pid_start: str = ""
    started: str = ""
    ended: str = ""
    seconds: float = 0.0
    error: str = ""
    failure_log: list[str] = field(default_factory=list)
    #: The failed step (its path), its own error line and the log holding it.
    failed_step: str = ""
    cause: str = ""
    cause_log: str = ""
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    job_uuid: str = ""

    @property
    def log_path(self) -> Path:
        return self.record_dir / LOG_FILE

    @property
    def path(self) -> Path:
        return self.record_dir / RUN_FILE

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "pipeline_file": self.pipeline_file,
            "state": self.state,
            "params": self.params,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "failure_log": self.failure_log,
            "failed_step": self.failed_step,
            "cause": self.cause,
            "cause_log": self.cause_log,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "job_uuid": self.job_uuid,
            "options": self.options,
            "run_dir": str(self.run_dir),
            "log": str(self.log_path),
            "tasks": {name: task.to_json() for name, task in self.tasks.items()},
        }

    @classmethod
    def from_json(cls, record_dir: Path, data: Mapping[str, Any]) -> RunRecord:
        return cls(
            run_id=data["run_id"],
            pipeline=data.get("pipeline", ""),
            pipeline_file=data.get("pipeline_file", ""),
            state=data.get("state", ""),
            params=dict(data.get("params") or {}),
            record_dir=record_dir,
            run_dir=Path(data.get("run_dir") or record_dir),
            created=data.get("created", ""),
            pid=int(data.get("pid") or 0),
            pid_start=str(data.get("pid_start") or ""),
            started=data.get("started", ""),
            ended=data.get("ended", ""),
            seconds=float(data.get("seconds") or 0.0),
            error=data.get("error", ""),
            failure_log=list(data.get("failure_log") or []),
            failed_step=data.get("failed_step", ""),
            cause=data.get("cause", ""),
            cause_log=data.get("cause_log", ""),
            tasks={
                name: TaskRecord.from_json(name, task)
                for name, task in (data.get("tasks") or {}).items()
            },
            options=dict(data.get("options") or {}),
            job_uuid=str(data.get("job_uuid") or ""),
        )

    def save(self) -> None:
        write_json_atomic(self.path, self.to_json())


def reserve_run_dir(runs: Path, pipeline: str) -> tuple[str, Path]:
    """A new run id and its record directory, created exclusively."""
    runs.mkdir(parents=True, exist_ok=True)
    base = safe_name(pipeline)[:60]
    for _ in range(100):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        run_id = f"{base}-{stamp}-{secrets.token_hex(3)}"
        path = runs / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return run_id, path
    raise FileExistsError(f"could not reserve a new run directory under {runs}")


def load_run(record_dir: Path) -> RunRecord:
    return RunRecord.from_json(record_dir, json.loads((record_dir / RUN_FILE).read_text()))


def iter_runs(runs: Path) -> Iterator[RunRecord]:
    """Every readable run record under `runs`, newest first."""
    if not runs.is_dir():
        return
    for path in sorted(runs.glob(f"*/{RUN_FILE}"), key=lambda p: p.stat().st_mtime, reverse=True):
        with contextlib.suppress(OSError, ValueError, KeyError):
            yield load_run(path.parent)


class EventLog:
    """`events.jsonl`: appended and flushed one line at a time, from one thread."""

    def __init__(self, path: Path):
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._t0 = time.monotonic()
        self.failed: OSError | None = None

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"time": now(), "kind": kind, **fields}
        if self.failed is None:
            try:
                self._file.write(json.dumps(event, default=str) + "\n")
                self._file.flush()
            except OSError as err:  # a full disk: the run record says so
                self.failed = err
        return event

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


def process_start_time(pid: int) -> str:
    """The start time of process `pid` (clock ticks since boot, from /proc), "" if unknown.
    With the pid it identifies a process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):  # a zombie has ended: it waits to be reaped
        return "ended"
    return fields[19] if len(fields) > 19 else ""


def process_alive(pid: int, start: str) -> bool:
    """Whether the process `pid` that started at `start` still runs."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    current = process_start_time(pid)
    return current != "ended" and (not start or current == start)
