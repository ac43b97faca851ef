"""Local runs as `vtp runs` and `vtp ui` show them: state, duration, parameters, metrics, the
model version registered, and each step with its dependencies, outputs and log."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vtp.errors import VtpError
from vtp.home import LocalHome
from vtp.local.history import pipeline_graph
from vtp.local.history.files import OutsideHome, inside, tail
from vtp.local.orchestrator import records as rec

#: A run id as `reserve_run_dir` makes it (also what a directory name may be).
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
METRICS = "system.Metrics"
DATASET = "system.Dataset"
TUNING_JOB = "hyperparameterTuningJobs"
CUSTOM_JOB = "customJobs"
_MODEL_RESOURCE = re.compile(r"projects/[^/]+/locations/[^/]+/models/[^/@]+@\d+")


class NotFound(VtpError):
    """A run, step, tuning job or model that the home does not hold (an HTTP 404)."""


@dataclass(frozen=True)
class StepView:
    """One task of a run: a step, or a DAG (a condition, a loop, a nested pipeline)."""

    path: str
    display_name: str
    kind: str
    state: str
    parent: str
    started: str
    ended: str
    seconds: float
    attempts: list[dict[str, Any]]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    log: Path | None
    error: str
    resources: list[str]
    dependencies: tuple[str, ...] = ()

    @property
    def is_dag(self) -> bool:
        return self.kind == "dag"

    @property
    def label(self) -> str:
        """`name [display name]` when they differ."""
        name = self.path.rsplit("/", 1)[-1]
        return name if self.display_name in ("", name) else f"{name} [{self.display_name}]"

    def artifacts(self, schema_title: str) -> dict[str, dict[str, Any]]:
        """Output artifacts of one type (`system.Metrics`...), by output name."""
        return {
            name: value
            for name, value in self.outputs.items()
            if isinstance(value, dict)
            and (value.get("type") or {}).get("schemaTitle") == schema_title
        }

    def log_tail(self, lines: int = 40) -> list[str]:
        return tail(self.log, lines) if self.log else []


@dataclass(frozen=True)
class RunView:
    """A run, its steps in the order they started, and what it produced."""

    run_id: str
    pipeline: str
    pipeline_file: str
    state: str
    recorded_state: str
    params: dict[str, Any]
    created: str
    started: str
    ended: str
    seconds: float
    error: str
    failure_log: list[str]
    options: dict[str, Any]
    record_dir: Path
    run_dir: Path
    log: Path
    steps: list[StepView] = field(default_factory=list)

    @property
    def abandoned(self) -> bool:
        """Recorded as running, but the vtp process running it is gone."""
        return self.state != self.recorded_state

    def step(self, path: str) -> StepView:
        for s in self.steps:
            if s.path == path:
                return s
        raise NotFound(f"run {self.run_id} has no step {path!r}")

    @property
    def leaf_steps(self) -> list[StepView]:
        return [s for s in self.steps if not s.is_dag]

    @property
    def failed_steps(self) -> list[StepView]:
        return [s for s in self.leaf_steps if s.state == rec.FAILED]

    @property
    def metrics(self) -> dict[str, float]:
        """The scalars of the first evaluation that ran (`system.Metrics` outputs)."""
        for s in self.steps:
            for art in s.artifacts(METRICS).values():
                values = art.get("metadata") or {}
                scalars = {k: v for k, v in values.items() if _is_number(v)}
                if scalars:
                    return scalars
        return {}

    @property
    def model_versions(self) -> list[str]:
        """Resource names (`projects/P/locations/L/models/ID@V`) of the versions this run
        registered (the resources its upload steps created)."""
        found: list[str] = []
        for s in self.steps:
            found += [r for r in s.resources if _MODEL_RESOURCE.fullmatch(r) and r not in found]
        return found

    def resources_of(self, kind: str) -> list[str]:
        """Ids of the Vertex-like resources of one kind (`hyperparameterTuningJobs`...)."""
        out = []
        for s in self.steps:
            for r in s.resources:
                parts = r.split("/")
                if len(parts) >= 2 and parts[-2] == kind and parts[-1] not in out:
                    out.append(parts[-1])
        return out

    @property
    def tuning_jobs(self) -> list[str]:
        return self.resources_of(TUNING_JOB)

    def summary_metrics(self, limit: int = 4) -> str:
        shown = list(self.metrics.items())[:limit]
        return ", ".join(f"{k}={_fmt(v)}" for k, v in shown)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _seconds_since(text: str) -> float:
    try:
        start = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (dt.datetime.now(dt.UTC) - start).total_seconds())


def check_run_id(run_id: str) -> str:
    """`run_id` if it can name a run directory (no `/`, no `..`).

    Raises:
        NotFound: naming the value.
    """
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise NotFound(f"no run {run_id!r}: a run id is letters, digits, '.', '_' and '-'")
    return run_id


class Runs:
    """The runs of one vtp home, read from `runs/<run_id>/run.json`."""

    def __init__(self, home: LocalHome):
        self.home = home

    def list(
        self,
        *,
        pipeline: str | None = None,
        state: str | None = None,
        text: str | None = None,
        limit: int | None = None,
    ) -> list[RunView]:
        """Runs, newest first, filtered by pipeline name, state (any case) and a text found in
        the run id, pipeline, parameters or error."""
        out = []
        records = sorted(
            rec.iter_runs(self.home.runs), key=lambda r: (r.created, r.run_id), reverse=True
        )
        for record in records:
            view = self._view(record, with_graph=False)
            if pipeline and view.pipeline != pipeline:
                continue
            if state and view.state != state.upper():
                continue
            if text and not _matches(view, text):
                continue
            out.append(view)
            if limit and len(out) >= limit:
                break
        return out

    def pipelines(self) -> list[str]:
        return sorted({r.pipeline for r in rec.iter_runs(self.home.runs)})

    def get(self, run_id: str) -> RunView:
        """One run, its steps with their dependencies.

        Raises:
            NotFound: no run `run_id` in this home.
        """
        check_run_id(run_id)
        directory = self.home.runs / run_id
        try:
            inside(self.home.runs, directory)
            record = rec.load_run(directory)
        except (OSError, ValueError, KeyError, OutsideHome):
            raise NotFound(f"no run {run_id!r} in {self.home.runs}") from None
        return self._view(record, with_graph=True)

    def _view(self, record: rec.RunRecord, *, with_graph: bool) -> RunView:
        state = record.state
        seconds = record.seconds
        if state in (rec.RUNNING, rec.PENDING):
            if rec.process_alive(record.pid, record.pid_start):
                seconds = _seconds_since(record.started or record.created)
            else:
                state = rec.CANCELLED
        deps = pipeline_graph.dependencies(record) if with_graph else {}
        steps = [
            StepView(
                path=t.name,
                display_name=t.display_name,
                kind=t.kind,
                state=t.state,
                parent=t.parent,
                started=t.started,
                ended=t.ended,
                seconds=t.seconds,
                attempts=[a.to_json() for a in t.attempts],
                inputs=t.inputs,
                outputs=t.outputs,
                log=self._log_path(t.log),
                error=t.error,
                resources=t.resources,
                dependencies=tuple(deps.get(t.name, ())),
            )
            for t in _tree_order(record.tasks)
        ]
        return RunView(
            run_id=record.run_id,
            pipeline=record.pipeline,
            pipeline_file=record.pipeline_file,
            state=state,
            recorded_state=record.state,
            params=record.params,
            created=record.created,
            started=record.started,
            ended=record.ended,
            seconds=seconds,
            error=record.error,
            failure_log=record.failure_log,
            options=record.options,
            record_dir=record.record_dir,
            run_dir=record.run_dir,
            log=record.log_path,
            steps=steps,
        )

    def _log_path(self, text: str) -> Path | None:
        if not text:
            return None
        try:
            return inside(self.home.root, text)
        except OutsideHome:
            return None


def _tree_order(tasks: dict[str, rec.TaskRecord]) -> list[rec.TaskRecord]:
    """Tasks in the order they started, each group followed by its own tasks."""

    def when(t: rec.TaskRecord) -> tuple:
        return (not t.started, t.started, t.name)

    children: dict[str, list[rec.TaskRecord]] = {}
    for t in tasks.values():
        parent = t.parent if t.parent in tasks and t.parent != t.name else ""
        children.setdefault(parent, []).append(t)
    out: list[rec.TaskRecord] = []
    seen: set[str] = set()

    def visit(parent: str) -> None:
        for t in sorted(children.get(parent, []), key=when):
            if t.name not in seen:
                seen.add(t.name)
                out.append(t)
                visit(t.name)

    visit("")
    out += sorted((t for t in tasks.values() if t.name not in seen), key=when)
    return out


def _matches(view: RunView, text: str) -> bool:
    needle = text.lower()
    haystack = " ".join(
        [view.run_id, view.pipeline, view.state, view.error, json.dumps(view.params, default=str)]
    ).lower()
    return needle in haystack
