"""The trials report: a table of every trial and plots of the primary metric, as one
self-contained HTML page (inline CSS and SVG, no scripts) and as Markdown.

Rows are sorted by the primary metric, best first; trials without a value (INFEASIBLE,
ACTIVE, or SUCCEEDED without the metric) follow in id order. The best trial is the one
`best_trial` picks. A study where nothing succeeded still gets a report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from vtp.components.tuning import svg_plot
from vtp.components.tuning.selection import parse_study_metrics
from vtp.components.tuning.study import MetricSpec, StudySpec
from vtp.components.tuning.trials import (
    NoSucceededTrialError,
    Value,
    best_trial,
    parse_trial,
    trial_metrics,
    trial_state,
)
from vtp.errors import SpecError

_NUMERIC = "numeric"
_CATEGORICAL = "categorical"
#: Numbers from a fixed list: a numeric column, plotted as ordered categories.
_DISCRETE = "discrete"
_NOTE_CHARS = 120


@dataclass(frozen=True)
class TrialRow:
    """One trial as the report shows it."""

    trial_id: str
    state: str
    value: float | None
    metrics: dict[str, float]
    parameters: dict[str, Value]
    note: str
    best: bool


@dataclass(frozen=True)
class ReportParameter:
    """A parameter column and plot: numeric (linear or log axis), discrete (numbers plotted as
    ordered categories) or categorical."""

    parameter_id: str
    kind: str
    log: bool = False
    integer: bool = False
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrialsReport:
    """Everything the HTML and Markdown renderings show."""

    metrics: tuple[MetricSpec, ...]
    parameters: tuple[ReportParameter, ...]
    rows: tuple[TrialRow, ...]

    @property
    def primary(self) -> MetricSpec:
        return self.metrics[0]

    @property
    def best(self) -> TrialRow | None:
        return next((row for row in self.rows if row.best), None)

    def state_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(row.state for row in self.rows).items()))


# --- building -----------------------------------------------------------------------------------


def _id_key(trial_id: str) -> tuple[int, int, str]:
    return (0, int(trial_id), "") if trial_id.isdigit() else (1, 0, trial_id)


def _spec_parameters(
    metrics: Sequence[MetricSpec], study_spec_parameters: Sequence[Any]
) -> list[ReportParameter]:
    if not study_spec_parameters:
        return []
    study = StudySpec.from_dict(
        {"metrics": [m.to_dict() for m in metrics], "parameters": list(study_spec_parameters)}
    )
    out = []
    for p in study.iter_parameters():
        if p.kind == "CATEGORICAL":
            out.append(ReportParameter(p.parameter_id, _CATEGORICAL, categories=tuple(p.values)))
        elif p.kind == "DISCRETE":
            values = tuple(svg_plot.fmt(v) for v in p.values)
            out.append(ReportParameter(p.parameter_id, _DISCRETE, categories=values))
        else:
            log = p.scale == "UNIT_LOG_SCALE"
            out.append(ReportParameter(p.parameter_id, _NUMERIC, log, p.kind == "INTEGER"))
    return out


def _inferred_parameter(parameter_id: str, values: Sequence[Value]) -> ReportParameter:
    """A parameter the study spec does not list, typed from the trials' values."""
    if all(_is_number(v) for v in values):
        return ReportParameter(parameter_id, _NUMERIC)
    categories = tuple(dict.fromkeys(str(v) for v in values))
    return ReportParameter(parameter_id, _CATEGORICAL, categories=categories)


def build_report(
    trials: Sequence[str | Mapping[str, Any]],
    study_spec_metrics: Sequence[Mapping[str, Any]],
    study_spec_parameters: Sequence[Mapping[str, Any]] = (),
) -> TrialsReport:
    """The report of `trials` by the primary (first) metric of `study_spec_metrics`.

    Args:
        trials: Trials as `Trial.to_json` strings or dicts.
        study_spec_metrics: As `HyperparameterTuningJobRunOp` takes them.
        study_spec_parameters: As `HyperparameterTuningJobRunOp` takes them; sets the column
            order, log axes and category order. Parameters found only in trials are added.

    Raises:
        SpecError: naming the trial, metric or parameter field that is malformed.
    """
    if isinstance(trials, str | bytes) or not isinstance(trials, Sequence):
        raise SpecError("trials", trials, "must be a list of trial JSON strings")
    metrics = parse_study_metrics(study_spec_metrics)
    primary = metrics[0]
    parsed = [parse_trial(t) for t in trials]
    try:
        best_id = best_trial(parsed, (primary.metric_id, primary.goal))["id"]
    except NoSucceededTrialError:
        best_id = None
    rows = []
    for trial in parsed:
        values = trial_metrics(trial)
        state = trial_state(trial)
        value = values.get(primary.metric_id)
        rows.append(
            TrialRow(
                trial_id=trial["id"],
                state=state,
                value=None if state != "SUCCEEDED" or value is None else float(value),
                metrics={k: float(v) for k, v in values.items()},
                parameters={p["parameterId"]: p.get("value") for p in trial["parameters"]},
                note=str(trial.get("infeasibleReason") or ""),
                best=trial["id"] == best_id,
            )
        )
    sign = -1.0 if primary.goal == "MAXIMIZE" else 1.0

    def order(row: TrialRow) -> tuple:
        if row.value is None or math.isnan(row.value):
            return (1, 0.0, _id_key(row.trial_id))
        return (0, sign * row.value, _id_key(row.trial_id))

    rows.sort(key=order)
    parameters = _spec_parameters(metrics, study_spec_parameters)
    listed = {p.parameter_id for p in parameters}
    seen: dict[str, list[Value]] = {}
    for row in rows:
        for pid, value in row.parameters.items():
            seen.setdefault(pid, []).append(value)
    parameters += [
        _inferred_parameter(pid, vals) for pid, vals in seen.items() if pid not in listed
    ]
    return TrialsReport(tuple(metrics), tuple(parameters), tuple(rows))


# --- cells --------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    return "" if value is None else svg_plot.fmt(value)


def _parameter_text(parameter: ReportParameter, value: Value | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if parameter.integer and float(value).is_integer():
        return str(int(value))
    return svg_plot.fmt(float(value))


def _note(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _NOTE_CHARS else text[: _NOTE_CHARS - 1] + "…"


def _goal_word(metric: MetricSpec) -> str:
    return metric.goal.lower()


def _summary(report: TrialsReport) -> tuple[str, str]:
    """(headline, states) as plain text."""
    primary, best = report.primary, report.best
    if best is None:
        headline = f"No trial succeeded with a value of {primary.metric_id}."
    else:
        headline = (
            f"Best: trial {best.trial_id}, {primary.metric_id} = {_number(best.value)} "
            f"({_goal_word(primary)})."
        )
    states = ", ".join(f"{n} {state}" for state, n in report.state_counts().items())
    return headline, f"{len(report.rows)} trials: {states or 'none'}."


def _columns(report: TrialsReport) -> list[str]:
    primary = report.primary
    arrow = "↑" if primary.goal == "MAXIMIZE" else "↓"
    columns = ["#", "trial", "state", f"{primary.metric_id} {arrow}"]
    columns += [m.metric_id for m in report.metrics[1:]]
    columns += [p.parameter_id for p in report.parameters]
    if any(row.note for row in report.rows):
        columns.append("note")
    return columns


def _cells(report: TrialsReport, rank: int | None, row: TrialRow) -> list[str]:
    cells = [
        "" if rank is None else str(rank),
        f"{row.trial_id} (best)" if row.best else row.trial_id,
        row.state,
        _number(row.value),
    ]
    cells += [_number(row.metrics.get(m.metric_id)) for m in report.metrics[1:]]
    cells += [_parameter_text(p, row.parameters.get(p.parameter_id)) for p in report.parameters]
    if any(r.note for r in report.rows):
        cells.append(_note(row.note))
    return cells


def _numeric_columns(report: TrialsReport) -> set[int]:
    """Indexes of the right-aligned columns: rank, metrics, numeric parameters."""
    first_parameter = 3 + len(report.metrics)
    numeric = {0, *range(3, first_parameter)}
    numeric |= {
        first_parameter + i for i, p in enumerate(report.parameters) if p.kind != _CATEGORICAL
    }
    return numeric


def _ranked(report: TrialsReport) -> list[tuple[int | None, TrialRow]]:
    out = []
    rank = 0
    for row in report.rows:
        valued = row.value is not None and not math.isnan(row.value)
        rank += valued
        out.append((rank if valued else None, row))
    return out


# --- Markdown -----------------------------------------------------------------------------------


def _md(text: str) -> str:
    """A table cell: one line, `|` and `\\` escaped, `<` `>` as entities (no raw HTML)."""
    text = " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(report: TrialsReport) -> str:
    """The summary and the trials table as Markdown (the best row in bold)."""
    headline, states = _summary(report)
    columns = _columns(report)
    numeric = _numeric_columns(report)
    lines = [
        "# Hyperparameter tuning trials",
        "",
        f"{_md(headline)} {_md(states)}",
        "",
        "| " + " | ".join(_md(c) for c in columns) + " |",
        "|" + "|".join("---:" if i in numeric else "---" for i in range(len(columns))) + "|",
    ]
    for rank, row in _ranked(report):
        cells = [_md(c) for c in _cells(report, rank, row)]
        if row.best:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --- HTML ---------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #202124;
       margin: 24px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
p { margin: 4px 0; }
.table { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e0e0e0; text-align: left;
         white-space: nowrap; }
th { background: #f1f3f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { white-space: normal; min-width: 240px; color: #5f6368; }
tr.best td { background: #fef7e0; font-weight: 600; }
tr.novalue td { color: #80868b; }
.badge { background: #e8710a; color: #fff; border-radius: 8px; padding: 0 6px;
         font-size: 11px; margin-left: 4px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; border: 1px solid #e0e0e0; border-radius: 4px; flex: 1 1 440px;
         max-width: 600px; }
figure svg { display: block; width: 100%; height: auto; }
""".strip()


def _html_table(report: TrialsReport) -> str:
    columns = _columns(report)
    numeric = _numeric_columns(report)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for rank, row in _ranked(report):
        cells = _cells(report, rank, row)
        tds = []
        for i, cell in enumerate(cells):
            css = "num" if i in numeric else ("note" if columns[i] == "note" else "")
            text = escape(cell)
            if i == 1 and row.best:
                text = escape(row.trial_id) + '<span class="badge">best</span>'
            tds.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        css = "best" if row.best else ("novalue" if rank is None else "")
        attrs = f' class="{css}"' if css else ""
        body.append(f'<tr{attrs} id="trial-{escape(row.trial_id)}">{"".join(tds)}</tr>')
    return (
        f'<div class="table"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _tooltip(report: TrialsReport, row: TrialRow) -> str:
    metric = report.primary.metric_id
    value = _number(row.value) if row.value is not None else f"none ({row.state})"
    params = ", ".join(
        f"{p.parameter_id}={_parameter_text(p, row.parameters[p.parameter_id])}"
        for p in report.parameters
        if p.parameter_id in row.parameters
    )
    return f"trial {row.trial_id}: {metric}={value}" + (f"; {params}" if params else "")


def trial_plot(report: TrialsReport) -> str:
    """The primary metric per trial (trial ids in order) with the best value so far."""
    metric = report.primary
    rows = sorted(report.rows, key=lambda r: _id_key(r.trial_id))
    points = [svg_plot.Point(r.trial_id, r.value, _tooltip(report, r), r.best) for r in rows]
    pick = max if metric.goal == "MAXIMIZE" else min
    line: list[tuple[str, float]] = []
    for r in rows:
        if r.value is not None and not math.isnan(r.value):
            line.append((r.trial_id, pick(line[-1][1], r.value) if line else r.value))
    return svg_plot.scatter(
        points,
        title=f"{metric.metric_id} per trial ({_goal_word(metric)})",
        x_label="trial",
        y_label=metric.metric_id,
        x_scale="category",
        categories=[r.trial_id for r in rows],
        step_line=line if len(line) > 1 else (),
    )


def parameter_plot(report: TrialsReport, parameter: ReportParameter) -> str | None:
    """The primary metric against one parameter; None when no trial with a value set it."""
    metric = report.primary
    pid = parameter.parameter_id
    rows = sorted(
        (
            r
            for r in report.rows
            if pid in r.parameters and r.value is not None and not math.isnan(r.value)
        ),
        key=lambda r: _id_key(r.trial_id),
    )
    numeric = parameter.kind == _NUMERIC
    if numeric:
        rows = [r for r in rows if _is_number(r.parameters[pid])]
    if not rows:
        return None
    title = f"{metric.metric_id} vs {pid}"
    labels = {"x_label": pid, "y_label": metric.metric_id}
    if not numeric:
        values = [_parameter_text(parameter, r.parameters[pid]) for r in rows]
        categories = list(parameter.categories)
        categories += sorted(set(values) - set(categories))
        points = [
            svg_plot.Point(v, r.value, _tooltip(report, r), r.best)
            for v, r in zip(values, rows, strict=True)
        ]
        return svg_plot.scatter(
            points, title=title, x_scale="category", categories=categories, **labels
        )
    points = [
        svg_plot.Point(float(r.parameters[pid]), r.value, _tooltip(report, r), r.best) for r in rows
    ]
    if parameter.log and all(p.x > 0 for p in points):
        return svg_plot.scatter(points, title=f"{title} (log scale)", x_scale="log", **labels)
    scale = "integer" if parameter.integer else "linear"
    return svg_plot.scatter(points, title=title, x_scale=scale, **labels)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render_html(report: TrialsReport) -> str:
    """The whole report as one HTML page with inline CSS and SVG (no scripts, no links)."""
    headline, states = _summary(report)
    metric = report.primary.metric_id
    parameter_plots = [
        plot for plot in (parameter_plot(report, p) for p in report.parameters) if plot
    ]
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Hyperparameter tuning trials: {escape(metric)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Hyperparameter tuning trials</h1>",
        f"<p>{escape(headline)}</p><p>{escape(states)}</p>",
        "<h2>Trials</h2>",
        _html_table(report),
        f"<h2>{escape(metric)} per trial</h2>",
        f'<div class="plots"><figure>{trial_plot(report)}</figure></div>',
    ]
    if parameter_plots:
        sections += [
            f"<h2>{escape(metric)} against each parameter</h2>",
            '<div class="plots">'
            + "".join(f"<figure>{plot}</figure>" for plot in parameter_plots)
            + "</div>",
        ]
    sections.append("</body></html>")
    return "\n".join(sections) + "\n"
