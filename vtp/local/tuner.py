"""The local tuner: a Vertex hyperparameter tuning job's trials as local custom jobs.

Optuna drives the study by ask/tell (each trial is a separate process); its storage is an
SQLite file in the job directory, so the study outlives an interrupted run. Up to
`parallel_trial_count` trials run at once, each a `run_local_job` in its own thread with the
Vertex trial contract: the values appended as `--<parameter_id>=<value>`, per-trial `AIP_*`
directories (`<base>/<trial_id>/model/`...), `CLOUD_ML_TRIAL_ID`, and its own
`CLOUD_ML_HP_METRIC_FILE` per replica. Only the primary replica's (workerpool0-0) reports make
the trial's measurements (docs/architecture.md, "Which replica reports"). The main thread reads
every running trial's primary metrics file as it grows, hands the reports to Optuna and, under
median stopping, stops a trial Optuna prunes.

Job directory: `study.db` (Optuna), `trials.json` (finished trials in `Trial.to_json` shape,
rewritten atomically after each), `job.json` (state and counts), `trials/<id>/` (replica logs
and the metrics file).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from vtp.components.tuning.optuna_space import (
    StudyGridSampler,
    direction,
    pruner_for,
    sampler_for,
    suggest,
)
from vtp.components.tuning.study import StudySpec, TuningJobSpec
from vtp.components.tuning.trials import STATES
from vtp.errors import DataError, JobError, SpecError
from vtp.local._commands import (
    ImageCommand,
    as_image_commands,
    image_commands_from_env,
    pool_launch,
)
from vtp.local._pools import parse_pools
from vtp.local._trial import HP_METRIC_FILE_ENV, Outcome, TrialRun, conclude, trial_record
from vtp.local.executor import STOP_GRACE_S, LocalJob, run_local_job
from vtp.local.replica_process import Terminated, sigterm_raises

__all__ = ["TuningJobCancelled", "TuningJobFailed", "failure_limit", "run_local_study"]

#: With `max_failed_trial_count` 0 ("Vertex decides", with no documented number), the local
#: job fails once this share of `max_trial_count` trials has failed (at least one trial).
DEFAULT_FAILED_SHARE = 0.5
POLL_S = 0.1
STUDY_DB = "study.db"
TRIALS_FILE = "trials.json"
JOB_FILE = "job.json"
_TAG = "[local-tuner]"


class TuningJobFailed(JobError):
    """The failed-trial limit was reached (or every trial failed); `trials` holds the records
    of the trials that finished."""

    def __init__(self, message: str, trials: list[dict[str, Any]]):
        super().__init__(message)
        self.trials = trials


class TuningJobCancelled(JobError):
    """The job was cancelled (`should_stop`): running trials were stopped and recorded as
    stopped, the job as CANCELLED; `trials` holds the finished trials. It can be resumed."""

    def __init__(self, message: str, trials: list[dict[str, Any]]):
        super().__init__(message)
        self.trials = trials


class _Stop(Exception):
    """`should_stop()` turned true."""


def failure_limit(max_failed_trial_count: int, max_trial_count: int) -> int:
    """How many failed trials fail the job: the count given, or for 0 the local rule
    `max(1, ceil(DEFAULT_FAILED_SHARE * max_trial_count))`."""
    if max_failed_trial_count > 0:
        return max_failed_trial_count
    return max(1, math.ceil(DEFAULT_FAILED_SHARE * max_trial_count))


def run_local_study(
    *,
    study: StudySpec,
    worker_pool_specs: Sequence[Mapping[str, Any]],
    max_trial_count: int,
    parallel_trial_count: int,
    max_failed_trial_count: int = 0,
    base_output_directory: str = "",
    job_dir: Path,
    gcs_root: Path,
    seed: int | None = None,
    display_name: str = "tuning-job",
    job_record: Mapping[str, Any] | None = None,
    image_commands: Mapping[str, object] | None = None,
    log: Callable[[str], None] = print,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
    notice: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run a tuning job's trials locally until `max_trial_count`, an exhausted grid, the
    failed-trial limit, Ctrl-C, SIGTERM or `should_stop()`.

    Args:
        study: What to search and how (`median_stopping` stops trials early).
        worker_pool_specs: The trial job's pools (the CustomJob `worker_pool_specs`).
        max_trial_count: Trials to run at most.
        parallel_trial_count: Trials running at once.
        max_failed_trial_count: Failed trials that fail the job; 0: see `failure_limit`.
        base_output_directory: `gs://` or local; trial `t` writes to `<base>/<t>/model/`...
        job_dir: Where the study, the records and the trials' logs go; its name is the
            Optuna study name (the job id).
        gcs_root: Local stand-in for Cloud Storage.
        seed: Seed of the sampler; None draws a fresh one. The seed used is recorded in
            `job.json` (`seed`), so a study can be repeated.
        display_name: The job's display name (trial jobs are `<display_name>-trial-<id>`).
        job_record: Further fields for `job.json` (resource name, payload).
        image_commands: `{image_uri: ImageCommand}`; None reads `$VTP_IMAGE_COMMANDS`.
        log: Receives the trials' output lines (prefixed `[trial N]`) and notices.
        on_trial: Called with each finished trial's record, in finishing order.
        stop_grace_s: Seconds between SIGTERM and SIGKILL when a trial is stopped.
        should_stop: Polled while trials run; True stops every running trial (recorded as
            stopped) and ends the job CANCELLED with `TuningJobCancelled`.
        resume: Continue the study already in `job_dir` (an interrupted job): its finished
            trials are kept and count towards `max_trial_count`; trials that were running
            when it stopped are run again as new trials.
        notice: Receives what the user should know once (each trial's job passes on its
            notices: the same words for every trial).
        progress: Receives `trials done N of M (best so far ...)` as each trial finishes.

    Returns:
        The finished trials' records in `Trial.to_json` shape (dicts), in finishing order.

    Raises:
        SpecError: The job is invalid.
        TuningJobFailed: The failed-trial limit was reached, or every trial failed.
        TuningJobCancelled: `should_stop()` turned true (after stopping the running trials).
        KeyboardInterrupt: After stopping the running trials.
        JobError: Stopped by SIGTERM (after stopping the running trials).
    """
    TuningJobSpec(study, max_trial_count, parallel_trial_count, max_failed_trial_count)
    mapping = as_image_commands(image_commands)
    if mapping is None:
        mapping = image_commands_from_env()
    for pool in parse_pools(worker_pool_specs):
        if not pool.is_reduction_server:
            # an unrunnable pool fails here, not in every trial; a package's environment is
            # built here, once, before trials share it
            pool_launch(pool, mapping, gcs_root=Path(gcs_root), log=lambda x: log(f"{_TAG} {x}"))
    tuner = _Tuner(
        study=study,
        pools=[dict(p) if p else {} for p in worker_pool_specs],
        max_trials=max_trial_count,
        parallel=parallel_trial_count,
        failure_limit=failure_limit(max_failed_trial_count, max_trial_count),
        base=base_output_directory,
        job_dir=Path(job_dir).expanduser().resolve(),
        gcs_root=Path(gcs_root),
        seed=secrets.randbits(32) if seed is None else int(seed),
        display_name=display_name,
        job_record=dict(job_record or {}),
        image_commands=mapping,
        log=log,
        on_trial=on_trial,
        grace=stop_grace_s,
        should_stop=should_stop,
        resume=resume,
        notice=notice,
        progress=progress,
    )
    return tuner.run()


class _Tuner:
    """The state of one study run; every Optuna and file operation happens in the thread
    that called `run`."""

    def __init__(
        self,
        *,
        study: StudySpec,
        pools: list[dict[str, Any]],
        max_trials: int,
        parallel: int,
        failure_limit: int,
        base: str,
        job_dir: Path,
        gcs_root: Path,
        seed: int,
        display_name: str,
        job_record: dict[str, Any],
        image_commands: Mapping[str, ImageCommand],
        log: Callable[[str], None],
        on_trial: Callable[[dict[str, Any]], None] | None,
        grace: float,
        should_stop: Callable[[], bool] | None = None,
        resume: bool = False,
        notice: Callable[[str], None] | None = None,
        progress: Callable[[str], None] | None = None,
    ):
        self.spec = study
        self.notice = notice
        self.progress = progress
        self.pools = pools
        self.max_trials = max_trials
        self.parallel = parallel
        self.failure_limit = failure_limit
        self.base = base
        self.job_dir = job_dir
        self.gcs_root = gcs_root
        self.display_name = display_name
        self.image_commands = image_commands
        self.on_trial = on_trial
        self.grace = grace
        self.should_stop = should_stop
        self.resume = resume
        self.previous_failures: list[str] = []
        lock = threading.Lock()

        def emit(line: str) -> None:
            with lock:
                log(line)

        self.log = emit
        self.sampler = sampler_for(study, seed)
        self.grid = self.sampler if isinstance(self.sampler, StudyGridSampler) else None
        self.watch_pruning = study.median_stopping or study.decay_curve_stopping
        self.threads: ThreadPoolExecutor | None = None
        self.study: optuna.Study | None = None
        self.running: dict[Future, TrialRun] = {}
        self.launched = 0
        self.finished: list[dict[str, Any]] = []
        self.failures: list[tuple[TrialRun, str]] = []
        self.stopped: list[str] = []
        self.stop_reason: str | None = None
        self.record: dict[str, Any] = {
            **job_record,
            "display_name": display_name,
            "state": "JOB_STATE_RUNNING",
            "start_time": _now(),
            "study": {"storage": f"sqlite:///{job_dir / STUDY_DB}", "study_name": job_dir.name},
            "max_trial_count": max_trials,
            "parallel_trial_count": parallel,
            "failed_trial_limit": failure_limit,
            "seed": seed,
            "sampler": type(self.sampler).__name__,
        }

    # --- the loop --------------------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        self.job_dir.mkdir(parents=True, exist_ok=True)
        self.study = self._load_study() if self.resume else self._create_study()
        notice = self.spec.local_notice()
        if notice:
            self.log(f"notice: {notice}")
        self._write_job()
        terminated = False
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="vtp-trial") as threads:
            self.threads = threads
            with sigterm_raises() as redeliver:
                try:
                    self._loop()
                except Terminated:
                    self.log(f"{_TAG} SIGTERM: stopping every running trial")
                    self._abort("JOB_STATE_CANCELLED", "stopped by SIGTERM")
                    terminated = True
                except _Stop:
                    self.log(f"{_TAG} cancelled: stopping every running trial")
                    self._abort("JOB_STATE_CANCELLED", "cancelled")
                    raise TuningJobCancelled(
                        f"local tuning job {self.display_name!r} was cancelled: "
                        f"{len(self.finished)} finished trial(s) kept, "
                        f"{len(self.stopped)} running trial(s) stopped",
                        list(self.finished),
                    ) from None
                except KeyboardInterrupt:
                    self.log(f"{_TAG} interrupted: stopping every running trial")
                    self._abort("JOB_STATE_CANCELLED", "interrupted (Ctrl-C)")
                    raise
                except BaseException as err:
                    self._abort("JOB_STATE_FAILED", f"{type(err).__name__}: {err}")
                    raise
        if terminated:
            redeliver()  # with the previous handler back: by default the process ends here
            raise JobError(f"local tuning job {self.display_name!r} was stopped by SIGTERM")
        return self._conclude_job()

    def _loop(self) -> None:
        while True:
            if self.should_stop is not None and self.should_stop():
                raise _Stop
            while self._may_launch():
                self._launch()
            if not self.running:
                return
            done, _ = wait(list(self.running), timeout=POLL_S, return_when=FIRST_COMPLETED)
            for run in self.running.values():
                self._watch(run)
            for future in done:
                self._finish(self.running.pop(future), future)

    def _may_launch(self) -> bool:
        if self.stop_reason or len(self.running) >= self.parallel:
            return False
        if self.launched >= self.max_trials:
            return False
        return self.grid is None or self.grid.remaining(self.study) > 0

    def _create_study(self) -> optuna.Study:
        storage = _sqlite_storage(self.job_dir / STUDY_DB)
        try:
            return optuna.create_study(
                storage=storage,
                study_name=self.job_dir.name,
                sampler=self.sampler,
                pruner=pruner_for(self.spec),
                direction=direction(self.spec),
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise SpecError(
                "job_dir",
                str(self.job_dir),
                "must not already hold a study of the same name (each tuning job gets a new "
                "directory)",
            ) from None

    def _load_study(self) -> optuna.Study:
        """The study of an interrupted job, its finished trials taken back."""
        storage = _sqlite_storage(self.job_dir / STUDY_DB)
        try:
            study = optuna.load_study(
                storage=storage,
                study_name=self.job_dir.name,
                sampler=self.sampler,
                pruner=pruner_for(self.spec),
            )
        except KeyError:
            raise SpecError(
                "job_dir", str(self.job_dir), "must hold the study of the job to resume"
            ) from None
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(trial.number, state=TrialState.FAIL)  # its process is gone
        path = self.job_dir / TRIALS_FILE
        self.finished = json.loads(path.read_text()) if path.is_file() else []
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads((self.job_dir / JOB_FILE).read_text())
            self.previous_failures = [str(t) for t in previous.get("failed_trials", [])]
            self.stopped = [str(t) for t in previous.get("stopped_trials", [])]
            self.record = {**previous, **self.record, "resumed": _now()}
        self.launched = len(self.finished)
        self.log(
            f"{_TAG} resuming: {len(self.finished)} finished trial(s) kept, "
            f"{max(self.max_trials - self.launched, 0)} to run"
        )
        return study

    def _launch(self) -> None:
        trial = self.study.ask()
        values = suggest(trial, self.spec)
        trial_id = str(trial.number + 1)
        run = TrialRun(trial_id, trial, values, self.job_dir / "trials" / trial_id)
        run.work_dir.mkdir(parents=True, exist_ok=True)
        self.launched += 1
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        self.log(f"{_TAG} trial {trial_id} starting: {shown}")
        self.running[self.threads.submit(self._run_trial, run)] = run
        self._write_job()  # the running trials are on record, should this process be killed

    def _run_trial(self, run: TrialRun) -> None:
        """The trial's custom job; runs in a worker thread and waits for its processes."""
        prefix = f"[trial {run.trial_id}] "
        try:
            run_local_job(
                LocalJob(
                    display_name=f"{self.display_name}-trial-{run.trial_id}",
                    worker_pool_specs=self.pools,
                    base_output_directory=self.base,
                ),
                work_dir=run.work_dir,
                gcs_root=self.gcs_root,
                image_commands=self.image_commands,
                trial_id=run.trial_id,
                extra_args=run.args(),
                replica_env_for=lambda name: {HP_METRIC_FILE_ENV: str(run.metrics_file_of(name))},
                log=lambda line: self.log(prefix + line),
                should_stop=run.stop.is_set,
                stop_grace_s=self.grace,
                notice=self.notice,
            )
        finally:
            run.ended = time.time()

    def _watch(self, run: TrialRun) -> None:
        """Reads a running trial's new reports (hypertune keeps only its last 100 in the file);
        under automated stopping they go to Optuna, and a pruned trial is told to stop."""
        if run.stop.is_set():
            return
        try:
            fresh = run.read_new_reports(self.spec.primary.metric_id)
        except DataError as err:
            if not run.warned:
                run.warned = True
                self.log(f"{_TAG} trial {run.trial_id}: {err}")
            return
        if not fresh or not self.watch_pruning:
            return  # without automated stopping, Optuna needs no intermediate values
        run.tell_intermediate(fresh)
        if run.optuna_trial.should_prune():
            run.pruned = True
            run.stop.set()
            last = fresh[-1]
            self.log(
                f"{_TAG} trial {run.trial_id}: stopping early (median stopping) at step "
                f"{last.step}, {self.spec.primary.metric_id}={last.value:g}"
            )

    # --- finishing -------------------------------------------------------------------------

    def _finish(self, run: TrialRun, future: Future) -> None:
        error = future.exception()
        if error is not None and not isinstance(error, Exception):
            raise error
        outcome = conclude(run, self.spec, error=error)
        self._tell(run, outcome)
        if outcome.state is None:
            self.stopped.append(run.trial_id)
            self.log(f"{_TAG} trial {run.trial_id} stopped: {outcome.reason}")
            return
        record = trial_record(run, self.spec, outcome)
        self.finished.append(record)
        _write_json(self.job_dir / TRIALS_FILE, self.finished)
        if outcome.failed:
            self.failures.append((run, str(error)))
        self.log(_trial_line(record, self.spec, outcome))
        if self.progress is not None:
            self.progress(self._progress_text())
        if self.on_trial is not None:
            self.on_trial(record)
        failed = len(self.failures) + len(self.previous_failures)
        if outcome.failed and failed >= self.failure_limit and not self.stop_reason:
            self.stop_reason = (
                f"{failed} trial(s) failed, reaching the limit of "
                f"{self.failure_limit} (max_failed_trial_count)"
            )
            self._stop_running()
        self._write_job()

    def _progress_text(self) -> str:
        """`trials done 3 of 8 (best so far auc=0.9931, trial 2)`."""
        from vtp.components.tuning.trials import NoSucceededTrialError, best_trial

        metric = self.spec.primary.metric_id
        try:
            best = best_trial(self.finished, self.spec)
        except NoSucceededTrialError:
            best_text = "no trial succeeded yet"
        else:
            values = {m["metricId"]: m["value"] for m in best["finalMeasurement"]["metrics"]}
            best_text = f"best so far {metric}={values[metric]:.4f}, trial {best['id']}"
        return f"trials done {len(self.finished)} of {self.max_trials} ({best_text})"

    def _tell(self, run: TrialRun, outcome: Outcome) -> None:
        trial = run.optuna_trial
        if outcome.early_stopped and outcome.final is not None:
            self.study.tell(trial, state=TrialState.PRUNED)
        elif outcome.state == "SUCCEEDED" and outcome.final is not None:
            self.study.tell(trial, outcome.final.value)
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def _stop_running(self) -> None:
        for run in self.running.values():
            run.stop.set()

    def _abort(self, state: str, reason: str) -> None:
        """Stop every running trial, wait for them and record the job as `state`."""
        self.stop_reason = self.stop_reason or reason
        self._stop_running()
        pending = dict(self.running)
        self.running.clear()
        wait(list(pending))
        for future, run in pending.items():
            if future.exception() is None or isinstance(future.exception(), Exception):
                self._finish(run, future)
            else:
                self.study.tell(run.optuna_trial, state=TrialState.FAIL)
        self._end_job(state, reason)

    def _conclude_job(self) -> list[dict[str, Any]]:
        if self.stop_reason or (self.finished and len(self.failures) == len(self.finished)):
            reason = self.stop_reason or f"every trial failed ({len(self.failures)})"
            listing = "\n".join(
                f"  trial {run.trial_id} ({_values(run.values)}): "
                f"{message.splitlines()[0].rstrip('.')}; logs in {run.work_dir / 'logs'}"
                for run, message in self.failures
            )
            message = f"local tuning job {self.display_name!r} failed: {reason}:\n{listing}"
            self._end_job("JOB_STATE_FAILED", message)
            raise TuningJobFailed(message, list(self.finished))
        succeeded = sum(1 for t in self.finished if t["state"] == STATES["SUCCEEDED"])
        if not succeeded:
            self.log(
                f"notice: no trial reported metric {self.spec.primary.metric_id!r}: every "
                "trial is INFEASIBLE"
            )
        self._end_job("JOB_STATE_SUCCEEDED", "")
        return list(self.finished)

    def _end_job(self, state: str, error: str) -> None:
        self.record.update(state=state, end_time=_now())
        if error:
            self.record["error"] = error
        self._write_job()

    def _write_job(self) -> None:
        counts: dict[str, int] = {}
        for trial in self.finished:
            name = "SUCCEEDED" if trial["state"] == STATES["SUCCEEDED"] else "INFEASIBLE"
            counts[name] = counts.get(name, 0) + 1
        self.record.update(
            trial_counts=counts,
            failed_trials=[*self.previous_failures, *(run.trial_id for run, _ in self.failures)],
            stopped_trials=list(self.stopped),
            running_trials=sorted((r.trial_id for r in self.running.values()), key=int),
        )
        _write_json(self.job_dir / JOB_FILE, self.record)


def _sqlite_storage(path: Path) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on an SQLite file in WAL mode with `synchronous=NORMAL`: every
    commit survives the process being killed (not a power loss), at half the cost per trial."""
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")

    def on_connect(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections opened so far reconnect with the pragmas
    return storage


def _trial_line(record: dict[str, Any], study: StudySpec, outcome: Outcome) -> str:
    """`trial 3 SUCCEEDED auc=0.9731 (step 100) | lr=0.01, depth=4` and the like."""
    values = {p["parameterId"]: p["value"] for p in record["parameters"]}
    state = outcome.state or "STOPPED"
    if outcome.final is not None:
        metric = f"{study.primary.metric_id}={outcome.final.value:.6g} (step {outcome.final.step})"
    else:
        metric = outcome.reason
    early = " stopped early," if outcome.early_stopped else ""
    return f"trial {record['id']} {state}{early} {metric} | {_values(values)}"


def _values(values: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


def _write_json(path: Path, value: Any) -> None:
    """Write + rename: a reader sees the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
