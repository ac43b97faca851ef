"""What a killed vtp left RUNNING, marked when the next command opens the home.

A vtp process that is killed (SIGKILL, a power cut of the terminal...) cannot write its final
records; its processes are stopped by the reaper and by their death signal, but its run, custom
jobs and tuning jobs would stay RUNNING forever. Every command that opens a home first looks
for records whose owner process is gone (its pid is dead, or now belongs to another process:
the start time tells) and ends them CANCELLED, saying why.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from vtp.home import LocalHome
from vtp.local.orchestrator import records as rec

REASON = (
    "vtp (pid {pid}) ended without finishing this {what} (it was killed); marked CANCELLED "
    "when the home was next opened"
)


def recover(home: LocalHome) -> list[str]:
    """Marks the abandoned runs and jobs of `home` CANCELLED; the ids it marked."""
    if not home.root.is_dir():
        return []
    marked = []
    for path in sorted(home.runs.glob(f"*/{rec.RUN_FILE}")) if home.runs.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError):
            record = rec.load_run(path.parent)
            if record.state in (rec.RUNNING, rec.PENDING) and not rec.process_alive(
                record.pid, record.pid_start
            ):
                _cancel_run(record)
                marked.append(record.run_id)
    for kind, directory in (("custom job", home.jobs), ("tuning job", home.root / "tuning")):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*/job.json")):
            with contextlib.suppress(OSError, ValueError):
                if _cancel_job(path, kind):
                    marked.append(path.parent.name)
    return marked


def _cancel_run(record: rec.RunRecord) -> None:
    record.state = rec.CANCELLED
    record.ended = record.ended or rec.now()
    record.error = REASON.format(pid=record.pid, what="run")
    for task in record.tasks.values():
        if task.state in (rec.RUNNING, rec.PENDING):
            task.state = rec.CANCELLED
            task.ended = task.ended or record.ended
            for attempt in task.attempts:
                if attempt.state == rec.RUNNING:
                    attempt.state, attempt.ended = rec.CANCELLED, record.ended
    record.save()


def _cancel_job(path: Path, kind: str) -> bool:
    from vtp.local.twins.records import write_record

    job: dict[str, Any] = json.loads(path.read_text())
    if job.get("state") != "JOB_STATE_RUNNING":
        return False
    pid = int(job.get("owner_pid") or 0)
    if pid and rec.process_alive(pid, str(job.get("owner_start") or "")):
        return False
    if not pid:
        return False  # written by a vtp that did not record its owner: cannot tell
    job["state"] = "JOB_STATE_CANCELLED"
    job["end_time"] = job.get("end_time") or rec.now()
    job["error"] = REASON.format(pid=pid, what=kind)
    if job.get("running_trials"):
        job["stopped_trials"] = [*job.get("stopped_trials", []), *job["running_trials"]]
        job["running_trials"] = []
    write_record(path.parent, path.name, job)
    return True
