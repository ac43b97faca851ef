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


def format_trials(job_id: str, rows: list[dict]) -> str:
    lines = [f"tuning job {job_id}: {len(rows)} finished trial(s)"]
    for t in rows:
        state = _STATES.get(t.get("state"), str(t.get("state")))
        metrics = ", ".join(
            f"{m['metricId']}={m['value']:.6g}"
            for m in t.get("finalMeasurement", {}).get("metrics", [])
        ) or t.get("infeasibleReason", "no measurement")
        values = ", ".join(
            f"{p['parameterId']}={p['value']:g}"
            if isinstance(p["value"], float)
            else f"{p['parameterId']}={p['value']}"
            for p in t.get("parameters", [])
        )
        lines.append(f"  trial {t['id']:>3}  {state:<10}  {metrics}  | {values}")
    return "\n".join(lines)
