"""Local tuning jobs (`tuning/<id>/job.json`, `trials.json`) with their trials ranked by the
study's primary metric, the best one marked (the trials report's own ranking)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vtp.home import LocalHome
from vtp.local.history.runs import NotFound

if TYPE_CHECKING:
    from vtp.components.tuning.report import TrialsReport

_JOB_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class TuningJob:
    job_id: str
    display_name: str
    state: str
    run_id: str
    created: str
    ended: str
    max_trial_count: int
    parallel_trial_count: int
    sampler: str
    seed: Any
    study_spec: dict[str, Any]
    trials: list[dict[str, Any]]
    trial_job_spec: dict[str, Any]

    @property
    def output_uri_prefix(self) -> str:
        """Where trials write (`<prefix>/<trial id>/model`...)."""
        base = self.trial_job_spec.get("base_output_directory") or {}
        return str(base.get("output_uri_prefix") or "") if isinstance(base, dict) else ""

    @property
    def trial_pool(self) -> dict[str, Any]:
        """The primary worker pool every trial runs."""
        pools = self.trial_job_spec.get("worker_pool_specs") or []
        return pools[0] if pools and isinstance(pools[0], dict) else {}

    @property
    def metric_id(self) -> str:
        metrics = self.study_spec.get("metrics") or []
        return (
            str(metrics[0].get("metric_id") or metrics[0].get("metricId") or "") if metrics else ""
        )

    def report(self) -> TrialsReport | None:
        """Trials ranked by the primary metric, best first and marked; None without a study
        metric or with trials the report cannot read."""
        from vtp.components.tuning.report import build_report
        from vtp.errors import SpecError

        metrics = self.study_spec.get("metrics") or []
        if not metrics:
            return None
        try:
            return build_report(self.trials, metrics, self.study_spec.get("parameters") or [])
        except SpecError:
            return None


class TuningJobs:
    """The tuning jobs of one vtp home."""

    def __init__(self, home: LocalHome):
        self.root = home.root / "tuning"

    def list(self) -> list[TuningJob]:
        """Every job, newest first."""
        jobs = []
        for path in self.root.glob("*/job.json") if self.root.is_dir() else []:
            try:
                jobs.append(_load(path.parent))
            except (OSError, ValueError):
                continue
        return sorted(jobs, key=lambda j: (j.created, j.job_id), reverse=True)

    def get(self, job_id: str) -> TuningJob:
        """Raises: NotFound: no such job in this home."""
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise NotFound(f"no tuning job {job_id!r}: a job id is letters, digits, '_' and '-'")
        try:
            return _load(self.root / job_id)
        except (OSError, ValueError):
            raise NotFound(f"no tuning job {job_id!r} in {self.root}") from None


def _load(directory: Path) -> TuningJob:
    job = json.loads((directory / "job.json").read_text())
    trials_file = directory / "trials.json"
    trials = json.loads(trials_file.read_text()) if trials_file.is_file() else []
    spec = (job.get("job") or {}).get("study_spec") or {}
    return TuningJob(
        job_id=directory.name,
        display_name=str(job.get("display_name", "")),
        state=str(job.get("state", "")).removeprefix("JOB_STATE_"),
        run_id=str(job.get("run_id", "")),
        created=str(job.get("create_time", "")),
        ended=str(job.get("end_time", "")),
        max_trial_count=int(job.get("max_trial_count") or 0),
        parallel_trial_count=int(job.get("parallel_trial_count") or 0),
        sampler=str(job.get("sampler", "")),
        seed=job.get("seed"),
        study_spec=spec,
        trials=trials if isinstance(trials, list) else [],
        trial_job_spec=(job.get("job") or {}).get("trial_job_spec") or {},
    )
