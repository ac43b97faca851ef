"""`vtp tuning`: the local tuning jobs and their trials, also after an interrupted run."""

from __future__ import annotations

import json
from pathlib import Path

from vtp.errors import VtpError


def jobs(home_root: Path) -> list[dict]:
    """Every local tuning job, newest first: id, state, display name, trial counts."""
    out = []
    for record in sorted((home_root / "tuning").glob("*/job.json"), reverse=True):
        job = json.loads(record.read_text())
        trials = _trials(record.parent)
        out.append(
            {
                "id": record.parent.name,
                "state": job.get("state", "?"),
                "display_name": job.get("display_name", ""),
                "trials": len(trials),
                "succeeded": sum(1 for t in trials if t.get("state") in (4, "SUCCEEDED")),
                "seed": job.get("seed"),
                "sampler": job.get("sampler", ""),
            }
        )
    return out


def _trials(job_dir: Path) -> list[dict]:
    path = job_dir / "trials.json"
    return json.loads(path.read_text()) if path.is_file() else []


def trials(home_root: Path, job_id: str | None = None) -> tuple[str, list[dict]]:
    """(job id, its trials); the newest job when `job_id` is None."""
    found = jobs(home_root)
    if not found:
        raise VtpError(f"no local tuning job under {home_root / 'tuning'} (run `vtp run tuning`)")
    chosen = job_id or found[0]["id"]
    if chosen not in {j["id"] for j in found}:
        known = ", ".join(j["id"] for j in found)
        raise VtpError(f"no local tuning job {chosen!r}; known: {known}")
    return chosen, _trials(home_root / "tuning" / chosen)


def study_spec(home_root: Path, job_id: str) -> dict:
    """The study spec (`metrics`, `parameters`) tuning job `job_id` ran with; {} if unknown."""
    try:
        job = json.loads((home_root / "tuning" / job_id / "job.json").read_text())
    except (OSError, ValueError):
        return {}
    spec = (job.get("job") or {}).get("study_spec") or {}
    return spec if isinstance(spec, dict) else {}


_STATES = {1: "REQUESTED", 2: "ACTIVE", 3: "STOPPING", 4: "SUCCEEDED", 5: "INFEASIBLE"}


def format_jobs(rows: list[dict]) -> str:
    if not rows:
        return "No local tuning jobs."
    head = f"{'JOB ID':<21}{'STATE':<22}{'TRIALS':>7}{'SUCCEEDED':>11}  {'SEED':<11}DISPLAY NAME"
    body = [
        f"{r['id']:<21}{r['state']:<22}{r['trials']:>7}{r['succeeded']:>11}  "
        f"{'-' if r.get('seed') is None else r['seed']!s:<11}{r['display_name']}"
        for r in rows
    ]
    return "\n".join([head, *body])


def format_trials(job_id: str, rows: list[dict], spec: dict | None = None) -> str:
    """The trials as a table sorted by the study's primary metric in its goal's direction, the
    best trial marked `*`; trials without a value (INFEASIBLE, failed) last, in id order.
    Without a study spec (`spec`), in finishing order."""
    from vtp.cli.text_table import table

    metrics = (spec or {}).get("metrics") or []
    if not rows:
        return f"tuning job {job_id}: no finished trial"
    if not metrics:
        return _in_finishing_order(job_id, rows)
    from vtp.components.tuning.report import build_report

    report = build_report(rows, metrics, (spec or {}).get("parameters") or [])
    primary = report.primary
    names = [p.parameter_id for p in report.parameters]
    others = sorted({m for r in report.rows for m in r.metrics} - {primary.metric_id})
    header = ["", "TRIAL", "STATE", primary.metric_id, *others, *names, "NOTE"]
    body = [
        [
            "*" if row.best else "",
            row.trial_id,
            row.state,
            _number(row.value),
            *(_number(row.metrics.get(m)) for m in others),
            *(_value(row.parameters.get(n)) for n in names),
            " ".join(row.note.split())[:80],
        ]
        for row in report.rows
    ]
    if not any(row[-1] for row in body):  # no notes: no NOTE column
        header, body = header[:-1], [row[:-1] for row in body]
    direction = "highest" if primary.goal == "MAXIMIZE" else "lowest"
    head = (
        f"tuning job {job_id}: {len(rows)} finished trial(s), sorted by {primary.metric_id} "
        f"({primary.goal.lower()}: {direction} first); trials without a value last"
    )
    legend = "* best trial" if report.best else "no trial succeeded: no best trial"
    return "\n".join([head, table(header, body), legend])


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return str(value)


def _in_finishing_order(job_id: str, rows: list[dict]) -> str:
    lines = [f"tuning job {job_id}: {len(rows)} finished trial(s), in finishing order"]
    for t in rows:
        state = _STATES.get(t.get("state"), str(t.get("state")))
        metrics = ", ".join(
            f"{m['metricId']}={m['value']:.6g}"
            for m in t.get("finalMeasurement", {}).get("metrics", [])
        ) or t.get("infeasibleReason", "no measurement")
        values = ", ".join(
            f"{p['parameterId']}={_value(p['value'])}" for p in t.get("parameters", [])
        )
        lines.append(f"  trial {t['id']:>3}  {state:<10}  {metrics}  | {values}")
    return "\n".join(lines)
