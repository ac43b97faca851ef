"""One local run of a compiled pipeline, from the run id to the final record.

The run id and its record are fixed before anything runs; the reaper (which stops what a
killed vtp leaves) and, for lightweight Python components, the zygote are started; SIGINT,
SIGTERM and SIGHUP cancel the run (every running step, replica and trial is stopped, what did
not end is recorded CANCELLED); the final record is written whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from vtp.defaults import DEFAULT_LOCATION, LOCAL_PROJECT
from vtp.errors import VtpError
from vtp.home import PIPELINE_ROOT_BUCKET, LocalHome
from vtp.local.orchestrator import records as rec
from vtp.local.orchestrator.ir import PipelineIR
from vtp.local.orchestrator.launchers import preload
from vtp.local.orchestrator.placeholders import PipelineContext
from vtp.local.orchestrator.plan import Plan
from vtp.local.orchestrator.scheduler import Options, Scheduler

PIPELINE_COPY = "pipeline.yaml"
#: Space kept aside in the run's record directory from the start, released to write the final
#: record when the disk fills up during the run.
RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024
CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RunNotStarted(VtpError, RuntimeError):
    """The run could not start (its record cannot be written: a full disk...)."""


@dataclass
class RunSettings:
    """What the caller chose for the run."""

    parallelism: int
    cache: bool = False
    fail_fast: bool = False
    #: Steps' imports made ahead by standby children of the zygote.
    standby: bool = True
    verbose: bool = False
    progress: TextIO | None = None
    label: str = ""
    #: A zygote started early (`start_zygote`), so it is ready by the first step; None: the
    #: run starts one itself if it has lightweight Python components.
    zygote: Any = None
    use_zygote: bool = True


def start_zygote() -> Any:
    """Starts a zygote now (it imports KFP's executor while vtp prepares the run); None if it
    cannot start. Call from the main thread."""
    from vtp.local.orchestrator.steps import Zygote
    from vtp.local.replica_process import start_reaper

    start_reaper()
    try:
        return Zygote(dict(os.environ))
    except OSError:
        return None


def default_parallelism() -> int:
    """The machine's cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_plan(
    plan: Plan,
    params: dict[str, Any],
    *,
    home: LocalHome,
    settings: RunSettings,
    resume: rec.RunRecord | None = None,
) -> rec.RunRecord:
    """Runs `plan` with `params` (typed, complete); returns the final record (any state)."""
    ir = plan.ir
    saved_env = {k: os.environ.get(k) for k in ("VTP_HOME", "VTP_GCS_ROOT", "VTP_RUN_ID")}
    home.create().export()
    started = time.monotonic()
    if resume is not None:
        record = resume
        previous = rec.load_run(resume.record_dir)
        record.tasks = {}
        record.error, record.failure_log = "", []
        record.failed_step, record.cause, record.cause_log = "", "", ""
    else:
        run_id, record_dir = rec.reserve_run_dir(home.runs, settings.label or ir.name)
        record = rec.RunRecord(
            run_id=run_id,
            pipeline=ir.name,
            pipeline_file=str(ir.path or ""),
            state=rec.PENDING,
            params=params,
            record_dir=record_dir,
            run_dir=home.pipeline_root / run_id,
            created=rec.now(),
            job_uuid=str(uuid.uuid4()),
        )
        previous = None
        if ir.path is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(ir.path, record_dir / PIPELINE_COPY)
    record.pid = os.getpid()
    record.pid_start = rec.process_start_time(record.pid)
    record.state = rec.RUNNING
    record.started = rec.now()
    record.options = {
        "parallelism": settings.parallelism,
        "cache": settings.cache,
        "fail_fast": settings.fail_fast,
        "standby": settings.standby,
        "resumed": resume is not None,
    }
    reserve = record.record_dir / RESERVE
    try:
        record.save()  # before the first step: a record exists whatever happens next
        reserve.write_bytes(b"\0" * RESERVE_BYTES)
    except OSError as err:
        with contextlib.suppress(OSError):
            reserve.unlink()
        raise RunNotStarted(
            f"cannot record run {record.run_id} in {record.record_dir}: "
            f"{err.strerror or err}; nothing was run"
        ) from None
    context = PipelineContext(
        job_name=record.run_id,
        job_uuid=record.job_uuid or str(uuid.uuid4()),
        project=str(params.get("project") or LOCAL_PROJECT),
        location=str(params.get("location") or DEFAULT_LOCATION),
        pipeline_root=f"gs://{PIPELINE_ROOT_BUCKET}",
        create_time=record.created,
    )
    env = {
        **os.environ,
        "VTP_RUN_ID": record.run_id,
        "PYTHONUNBUFFERED": "1",
    }
    os.environ["VTP_RUN_ID"] = record.run_id
    out = settings.progress
    if out is not None:
        print(
            f"vtp: running pipeline {ir.name!r} locally: run {record.run_id} "
            f"(home {home.root}, up to {settings.parallelism} step(s) at once)",
            file=out,
            flush=True,
        )
        for notice in plan.notices:
            print(f"  notice: {notice}", file=out, flush=True)
    from vtp.local.replica_process import start_reaper, stop_reaper

    scheduler: Scheduler | None = None
    zygote = settings.zygote
    state = rec.FAILED
    try:
        start_reaper()
        preload(plan.executors.values())
        if zygote is None and settings.use_zygote and plan.uses_python:
            zygote = start_zygote()
        scheduler = Scheduler(
            plan,
            record,
            params=params,
            pipeline=context,
            options=Options(
                parallelism=settings.parallelism,
                cache=settings.cache,
                fail_fast=settings.fail_fast,
                standby=settings.standby,
                resume=resume is not None,
                progress=out,
                echo=sys.stdout if settings.verbose else None,
                cwd=os.getcwd(),
            ),
            gcs_root=home.gcs_root,
            cache_root=home.cache_root,
            step_env=env,
            zygote=zygote,
            previous=previous,
        )
        scheduler.event_log.write("run_started", run=record.run_id, pipeline=ir.name)
        with _cancel_on_signals(scheduler):
            state = scheduler.run()
    except BaseException as err:
        # vtp itself failed: the record says so before the error goes on (never left RUNNING).
        if not record.error:
            record.error = f"vtp stopped with {type(err).__name__}: {err}"
        raise
    finally:
        if scheduler is not None:
            scheduler.event_log.write("run_ended", run=record.run_id, state=state)
        record.state = state
        record.ended = rec.now()
        record.seconds = time.monotonic() - started
        if scheduler is not None:
            if state == rec.CANCELLED:
                record.error = scheduler.cancel_reason or "cancelled"
            elif state == rec.FAILED and not record.error:
                record.error = _failure_text(scheduler)
                record.failure_log = scheduler.failure_tail()
                failed = scheduler.first_failure
                if failed is not None:
                    record.failed_step = failed.path
                    record.cause = failed.record.cause
                    record.cause_log = failed.record.cause_log or failed.record.log
        try:
            record.save()
        except OSError:  # a full disk: the space kept aside takes the final record
            with contextlib.suppress(OSError):
                reserve.unlink()
            with contextlib.suppress(OSError):
                record.save()
        with contextlib.suppress(OSError):
            reserve.unlink()
        if scheduler is not None:
            scheduler.close()
        if zygote is not None:
            zygote.close()
        stop_reaper()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return record


def discard_zygote(zygote: Any) -> None:
    """Ends a zygote (and the reaper) started for a run that did not start."""
    from vtp.local.replica_process import stop_reaper

    if zygote is not None:
        zygote.kill()
    stop_reaper()


def _failure_text(scheduler: Scheduler) -> str:
    if scheduler.write_error is not None:
        return scheduler.cancel_reason
    failed = [t for t in scheduler.record.tasks.values() if t.state == rec.FAILED]
    steps = [t for t in failed if t.kind == "step"] or failed
    if not steps:
        return scheduler.cancel_reason or "the run failed"
    first = scheduler.first_failure.record if scheduler.first_failure else steps[0]
    return f"task {first.name!r} failed: {first.error}"


@contextlib.contextmanager
def _cancel_on_signals(scheduler: Scheduler) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP cancel the run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        scheduler.request_cancel(f"interrupted by {name}")

    for sig in CANCEL_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def pipeline_copy(record: rec.RunRecord) -> Path:
    """The compiled pipeline a run ran (copied into its record directory)."""
    return record.record_dir / PIPELINE_COPY


def load_for_resume(home: LocalHome, run_id: str) -> rec.RunRecord:
    """The record of run `run_id`, which must have ended without succeeding.

    Raises:
        ResumeError: no such run, or it succeeded, or it is still running.
    """
    from vtp.errors import VtpError

    class ResumeError(VtpError, ValueError):
        pass

    path = home.runs / run_id
    if not (path / rec.RUN_FILE).is_file():
        known = [r.run_id for r in rec.iter_runs(home.runs)][:5]
        raise ResumeError(
            f"--resume {run_id!r}: no such run under {home.runs} (latest: "
            f"{', '.join(known) or 'none'})"
        )
    record = rec.load_run(path)
    if record.state == rec.SUCCEEDED:
        raise ResumeError(f"--resume {run_id!r}: the run succeeded; there is nothing to resume")
    if record.state == rec.RUNNING and rec.process_alive(record.pid, record.pid_start):
        raise ResumeError(f"--resume {run_id!r}: the run is still running (pid {record.pid})")
    if not pipeline_copy(record).is_file():
        raise ResumeError(f"--resume {run_id!r}: the run's pipeline copy is missing")
    return record


def load_ir_of(record: rec.RunRecord) -> PipelineIR:
    from vtp.local.orchestrator.ir import load_pipeline

    return load_pipeline(pipeline_copy(record))
