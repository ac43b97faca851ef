"""One local tuning trial: its arguments, its metrics file as it grows, its outcome and record.

A trial ends in one of Vertex's terminal `Trial.State`s:

- SUCCEEDED: it has a measurement of the primary metric (the final one is chosen by
  `measurement_selection_type` among its reports), whether its process exited 0 or was stopped
  early by automated stopping (Vertex has no separate state for an early-stopped trial: it is
  completed with the measurements it reported);
- INFEASIBLE: it ended without a measurement of the primary metric (`infeasible_reason` says
  why). It counts against `max_failed_trial_count` only when its job failed (non-zero exit,
  timeout, a replica that cannot start).

A trial stopped because the whole job ended (failure limit, Ctrl-C, SIGTERM) has no terminal
state: it is listed as stopped in `job.json`, not in `trials.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from vtp.components.tuning.hypertune_file import Report, final_measurement, read_reports
from vtp.components.tuning.study import StudySpec
from vtp.components.tuning.trials import format_value, trial_to_json
from vtp.errors import DataError

METRICS_FILE = "output.metrics"
HP_METRIC_FILE_ENV = "CLOUD_ML_HP_METRIC_FILE"
#: The replica whose hypertune reports make the trial's measurements.
PRIMARY_REPLICA = "workerpool0-0"


@dataclass(frozen=True)
class Outcome:
    """How a trial ended. `state` is None for a trial stopped because the job ended."""

    state: str | None
    final: Report | None = None
    reason: str = ""
    failed: bool = False
    early_stopped: bool = False


@dataclass
class TrialRun:
    """A trial in flight: the Optuna trial, its values and what its process has reported."""

    trial_id: str
    optuna_trial: optuna.trial.Trial
    values: dict[str, Any]
    work_dir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    pruned: bool = False
    warned: bool = False
    started: float = field(default_factory=time.time)
    ended: float | None = None
    _reports: dict[tuple[float, int, float], Report] = field(default_factory=dict)
    _steps_told: set[int] = field(default_factory=set)

    @property
    def metrics_file(self) -> Path:
        """The primary replica's `CLOUD_ML_HP_METRIC_FILE`: its reports are the trial's."""
        return self.work_dir / METRICS_FILE

    def metrics_file_of(self, replica: str) -> Path:
        """Replica `replica`'s own hypertune file; only the primary's is read (workers'
        reports stay in `metrics/<replica>.metrics` for inspection)."""
        if replica == PRIMARY_REPLICA:
            return self.metrics_file
        return self.work_dir / "metrics" / f"{replica}.metrics"

    def args(self) -> list[str]:
        """`--<parameter_id>=<value>` for every active parameter, as Vertex appends them."""
        return [f"--{pid}={format_value(value)}" for pid, value in self.values.items()]

    def read_new_reports(self, metric_id: str) -> list[Report]:
        """Reports of `metric_id` not seen before (hypertune rewrites the whole file each time
        and keeps only its last 100 reports, so every report seen is remembered here).

        Raises:
            DataError: a line of the file before the last is not a hypertune report.
        """
        fresh = []
        for report in read_reports(self.metrics_file, metric_id):
            key = (report.timestamp, report.step, report.value)
            if key not in self._reports:
                self._reports[key] = report
                fresh.append(report)
        return fresh

    @property
    def reports(self) -> list[Report]:
        """Every report of the primary metric seen so far, in report order."""
        return list(self._reports.values())

    def tell_intermediate(self, reports: list[Report]) -> None:
        """Hands new reports to Optuna as intermediate values (once per step, NaN skipped)."""
        for report in reports:
            step = max(report.step, 0)
            if step in self._steps_told or math.isnan(report.value):
                continue
            self._steps_told.add(step)
            self.optuna_trial.report(report.value, step)


def conclude(run: TrialRun, study: StudySpec, *, error: BaseException | None) -> Outcome:
    """The outcome of a trial whose job returned (`error` None: it exited 0 or was cancelled)
    or raised `error`."""
    metric = study.primary.metric_id
    unreadable = ""
    try:
        run.read_new_reports(metric)
    except DataError as err:
        unreadable = f" ({err})"
    final = final_measurement(run.reports, study.measurement_selection, study.primary.goal)
    if error is not None:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Outcome("INFEASIBLE", None, f"trial job failed: {first_line}", failed=True)
    if run.stop.is_set() and not run.pruned:
        return Outcome(None, final, "stopped when the tuning job ended")
    if final is None:
        when = "was stopped early" if run.pruned else "finished"
        reason = (
            f"the trial {when} without reporting metric {metric!r} "
            f"(cloudml-hypertune tag){unreadable}"
        )
        return Outcome("INFEASIBLE", None, reason, early_stopped=run.pruned)
    return Outcome("SUCCEEDED", final, early_stopped=run.pruned)


def trial_record(run: TrialRun, study: StudySpec, outcome: Outcome) -> dict[str, Any]:
    """The trial as `aiplatform_v1.Trial.to_json` gives it, with its intermediate
    measurements and start/end times.

    The final measurement holds the primary metric's selected report and, for each other
    metric, its report at the same step (else its last report).
    """
    assert outcome.state is not None
    measurement = None
    step = 0
    if outcome.final is not None:
        step = max(outcome.final.step, 0)
        measurement = {study.primary.metric_id: outcome.final.value}
        measurement.update(_other_metrics(run, study, outcome.final.step))
    record = json.loads(
        trial_to_json(
            run.trial_id,
            outcome.state,
            run.values,
            measurement,
            step,
            infeasible_reason=outcome.reason,
        )
    )
    record["measurements"] = [
        {
            "stepCount": str(max(r.step, 0)),
            "metrics": [{"metricId": study.primary.metric_id, "value": r.value}],
        }
        for r in run.reports
        if math.isfinite(r.value)
    ]
    record["startTime"] = _rfc3339(run.started)
    record["endTime"] = _rfc3339(run.ended or time.time())
    return record


def _other_metrics(run: TrialRun, study: StudySpec, step: int) -> dict[str, float]:
    out = {}
    for metric in study.metrics[1:]:
        try:
            reports = read_reports(run.metrics_file, metric.metric_id)
        except DataError:
            continue
        usable = [r for r in reports if not math.isnan(r.value)]
        at_step = [r for r in usable if r.step == step]
        if usable:
            out[metric.metric_id] = (at_step or usable)[-1].value
    return out


def _rfc3339(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
