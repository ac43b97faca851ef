"""Read the metrics file cloudml-hypertune writes during a trial.

`hypertune.HyperTune.report_hyperparameter_tuning_metric` keeps the last 100 reports of the
process and rewrites `$CLOUD_ML_HP_METRIC_FILE` (default `/tmp/hypertune/output.metrics`) after
each one, as JSON lines with sorted keys and values as strings:
`{"checkpoint_path": "", "global_step": "5", "timestamp": 1700000000.1, "trial": "3",
"<tag>": "0.8731"}`. A file read while it is rewritten may end in a partial line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from vtp.components.specs._validate import check_choice
from vtp.components.tuning.study import GOALS, MEASUREMENT_SELECTIONS
from vtp.errors import DataError


@dataclass(frozen=True)
class Report:
    """One reported value of a metric."""

    step: int
    value: float
    timestamp: float


def read_reports(path: str | Path, metric_id: str) -> list[Report]:
    """The reports of `metric_id` in the file, in report order.

    Lines of other tags are ignored; a missing file gives `[]`; a last line that does not parse
    (the file is being rewritten) is skipped.

    Raises:
        DataError: for a line before the last that is not a report.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.splitlines()
    reports = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not a JSON object")
            if metric_id not in entry:
                continue
            step = int(entry.get("global_step") or 0)
            value = float(entry[metric_id])
            timestamp = float(entry.get("timestamp") or 0.0)
        except (ValueError, TypeError) as err:
            if number == len(lines):
                break
            raise DataError(f"{path}: line {number} is not a hypertune report ({err})") from None
        reports.append(Report(step, value, timestamp))
    return reports


def final_measurement(reports: list[Report], selection: str, goal: str) -> Report | None:
    """The report Vertex takes as the trial's final measurement.

    Args:
        reports: as `read_reports` gives them (report order).
        selection: "LAST_MEASUREMENT" (the last report) or "BEST_MEASUREMENT" (the highest for
            MAXIMIZE, the lowest for MINIMIZE; the earliest of equal values).
        goal: "MAXIMIZE" or "MINIMIZE".

    Returns:
        The report, or None when there is none (the trial is INFEASIBLE). NaN values are
        ignored.
    """
    check_choice("measurement_selection", selection, tuple(MEASUREMENT_SELECTIONS))
    check_choice("goal", goal, tuple(GOALS))
    usable = [r for r in reports if not math.isnan(r.value)]
    if not usable:
        return None
    if selection == "LAST_MEASUREMENT":
        return usable[-1]
    sign = 1.0 if goal == "MAXIMIZE" else -1.0
    best = usable[0]
    for report in usable[1:]:
        if sign * report.value > sign * best.value:
            best = report
    return best
