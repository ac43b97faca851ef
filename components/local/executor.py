"""The local custom-job executor: a Vertex custom job's worker pools as local processes.

Each replica of each pool runs as its own process with the Vertex runtime contract
(docs: vertex-contract.md): `CLUSTER_SPEC`, `TF_CONFIG`, `MASTER_*`, `AIP_*` directories,
and Cloud Storage references mapped onto a local root. The job succeeds when every replica
exits 0; the first failure, the timeout, or `should_stop()` stops every replica's process group.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from components.errors import JobError
from components.local._commands import (
    IMAGE_COMMANDS_ENV,
    check_module,
    image_commands_from_env,
    pool_command,
)
from components.local._pools import DEFAULT_TIMEOUT, Pool, parse_pools, parse_timeout, snake_keys
from components.local._process import (
    ReplicaProcess,
    Terminated,
    describe_exit,
    sigterm_raises,
    stop_all,
)
from components.local.replica_env import (
    CUDA_ENV,
    OutputDirs,
    Replica,
    gpu_passthrough,
    output_dirs,
    plan_replicas,
    replica_env,
    rewrite_gcs,
)

__all__ = [
    "IMAGE_COMMANDS_ENV",
    "JobResult",
    "JobState",
    "LocalJob",
    "LocalJobFailed",
    "ReplicaResult",
    "image_commands_from_env",
    "run_local_job",
]

STOP_GRACE_S = 5.0
POLL_S = 0.05
_TAG = "[local-job]"


class JobState(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


@dataclass
class LocalJob:
    """What the twin receives: the inputs of `CustomTrainingJobOp` that matter locally."""

    display_name: str
    worker_pool_specs: list[dict]
    base_output_directory: str = ""
    timeout: str = DEFAULT_TIMEOUT
    labels: dict = field(default_factory=dict)


@dataclass
class ReplicaResult:
    """How one replica ran. `exit_code` is negative when a signal ended it."""

    name: str
    command: list[str]
    exit_code: int | None
    duration_s: float
    log_path: Path
    tail: list[str]


@dataclass
class JobResult:
    """How the job ran; `output_dirs` are local paths, `output_uris` in the base's namespace."""

    display_name: str
    state: JobState
    replicas: list[ReplicaResult]
    output_dirs: dict[str, str]
    output_uris: dict[str, str]
    duration_s: float

    @property
    def model_dir(self) -> str | None:
        """Local `AIP_MODEL_DIR`, None without a base output directory."""
        return self.output_dirs.get("AIP_MODEL_DIR")

    def replica(self, name: str) -> ReplicaResult:
        return next(r for r in self.replicas if r.name == name)


class LocalJobFailed(JobError):
    """A local job that failed or timed out; `result` holds every replica's outcome."""

    def __init__(self, message: str, result: JobResult, replica: str | None = None):
        super().__init__(message)
        self.result = result
        self.replica = replica


def run_local_job(
    job: LocalJob,
    *,
    work_dir: Path,
    gcs_root: Path,
    image_commands: Mapping[str, Sequence[str]] | None = None,
    trial_id: str | None = None,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    log: Callable[[str], None] = print,
    should_stop: Callable[[], bool] | None = None,
    cwd: Path | None = None,
    stop_grace_s: float = STOP_GRACE_S,
) -> JobResult:
    """Run `job` as local processes under the Vertex runtime contract.

    Args:
        job: The custom job payload.
        work_dir: Where `logs/<replica>.log` go.
        gcs_root: Local stand-in for Cloud Storage (`gs://b/x` -> `<gcs_root>/b/x`).
        image_commands: `{image_uri: command}` for pools whose `command` is empty (the image's
            ENTRYPOINT); None reads `$VTP_IMAGE_COMMANDS`.
        trial_id: Tuning trial id: per-trial `AIP_*` dirs and `CLOUD_ML_TRIAL_ID`.
        extra_args: Appended after every pool's args (`--param=value` of a trial).
        extra_env: Added to every replica's environment, last.
        log: Receives every output line, prefixed `[workerpoolI-J]`, and the job's notices.
        should_stop: Polled while running; True stops the job with state CANCELLED.
        cwd: Working directory of the replicas (default: ours).
        stop_grace_s: Seconds between SIGTERM and SIGKILL when stopping replicas.

    Returns:
        The result, with state SUCCEEDED or CANCELLED.

    Raises:
        SpecError: The payload is invalid.
        LocalJobFailed: A replica failed or the job exceeded its timeout (a `JobError`).
        JobError: A replica cannot be started locally.
    """
    pools = parse_pools(job.worker_pool_specs)
    timeout_s = parse_timeout(job.timeout)
    mapping = image_commands_from_env() if image_commands is None else image_commands
    trial = str(trial_id) if trial_id not in (None, "") else None
    gcs_root = Path(gcs_root).expanduser().resolve()
    gcs_root.mkdir(parents=True, exist_ok=True)
    logs_dir = Path(work_dir).expanduser().resolve() / "logs"
    emit = _serialised(log)

    running_pools = []
    for pool in pools:
        if pool.is_reduction_server:
            emit(
                f"{_TAG} {pool.name}: Reduction Server image {pool.image_uri} is not started "
                "locally (it only speeds up all-reduce between Vertex machines)"
            )
        else:
            running_pools.append(pool)
    base_commands = {p.index: pool_command(p, mapping) for p in running_pools}
    replicas = plan_replicas(running_pools)
    dirs = output_dirs(job.base_output_directory, gcs_root, trial)
    for path in dirs.paths.values():
        Path(path).mkdir(parents=True, exist_ok=True)
    spec = _job_spec(job)
    envs = {
        r.name: replica_env(
            r,
            replicas,
            job_spec=spec,
            gcs_root=gcs_root,
            dirs=dirs,
            trial_id=trial,
            extra_env=extra_env,
        )
        for r in replicas
    }
    commands = {
        r.name: [
            rewrite_gcs(str(part), gcs_root)
            for part in (*base_commands[r.pool.index], *r.pool.args, *extra_args)
        ]
        for r in replicas
    }
    for pool in running_pools:
        _accelerator_notice(pool, emit)
        if pool.is_python_package:
            first = next(r for r in replicas if r.pool is pool)
            check_module(pool, envs[first.name], cwd)

    return _supervise(
        job,
        replicas,
        commands,
        envs,
        dirs=dirs,
        logs_dir=logs_dir,
        cwd=cwd,
        emit=emit,
        timeout_s=timeout_s,
        should_stop=should_stop,
        grace=stop_grace_s,
    )


def _supervise(
    job: LocalJob,
    replicas: Sequence[Replica],
    commands: Mapping[str, list[str]],
    envs: Mapping[str, dict[str, str]],
    *,
    dirs: OutputDirs,
    logs_dir: Path,
    cwd: Path | None,
    emit: Callable[[str], None],
    timeout_s: float,
    should_stop: Callable[[], bool] | None,
    grace: float,
) -> JobResult:
    """Start every replica, wait for the outcome, and leave no process behind."""
    started = time.monotonic()
    procs: list[ReplicaProcess] = []

    def result(state: JobState) -> JobResult:
        for proc in procs:
            proc.finish_output(timeout=2)
        return JobResult(
            display_name=job.display_name,
            state=state,
            replicas=[
                ReplicaResult(
                    p.name, p.command, p.poll(), round(p.duration, 3), p.log_path, p.tail()
                )
                for p in procs
            ],
            output_dirs=dict(dirs.paths),
            output_uris=dict(dirs.uris),
            duration_s=round(time.monotonic() - started, 3),
        )

    terminated = False
    with sigterm_raises() as redeliver:
        try:
            for replica in replicas:
                procs.append(_start(replica, commands, envs, logs_dir, cwd, emit))
            outcome, failed = _wait(procs, started + timeout_s, should_stop)
            stop_all(procs, grace)  # grandchildren left by replicas that exited
        except Terminated:
            emit(f"{_TAG} SIGTERM: stopping every replica")
            stop_all(procs, grace)
            terminated = True
        except BaseException:
            stop_all(procs, grace)
            raise
    if terminated:
        redeliver()  # with the previous handler back: by default the process ends here
        raise JobError(f"local job {job.display_name!r} was stopped by SIGTERM")

    final = result(outcome)
    if outcome is JobState.SUCCEEDED:
        emit(f"{_TAG} job {job.display_name!r} succeeded in {final.duration_s:.1f}s")
        return final
    if outcome is JobState.CANCELLED:
        emit(f"{_TAG} job {job.display_name!r} cancelled: every replica was stopped")
        return final
    if outcome is JobState.TIMED_OUT:
        raise LocalJobFailed(
            f"local job {job.display_name!r} exceeded the timeout of "
            f"{job.timeout or DEFAULT_TIMEOUT} (scheduling.timeout) and every replica was "
            f"stopped; logs in {logs_dir}",
            final,
        )
    assert failed is not None
    replica = final.replica(failed.name)
    tail = "\n".join(f"  | {line}" for line in replica.tail) or "  | (no output)"
    raise LocalJobFailed(
        f"local job {job.display_name!r} failed: replica {replica.name} "
        f"{describe_exit(replica.exit_code or 0)}; the other replicas were stopped.\n"
        f"command: {shlex.join(replica.command)}\n"
        f"last {len(replica.tail)} lines of {replica.log_path}:\n{tail}",
        final,
        replica.name,
    )


def _start(
    replica: Replica,
    commands: Mapping[str, list[str]],
    envs: Mapping[str, dict[str, str]],
    logs_dir: Path,
    cwd: Path | None,
    emit: Callable[[str], None],
) -> ReplicaProcess:
    command = commands[replica.name]
    emit(f"{_TAG} starting {replica.name}: {shlex.join(command)}")
    try:
        return ReplicaProcess(
            replica.name,
            command,
            env=envs[replica.name],
            cwd=cwd,
            log_path=logs_dir / f"{replica.name}.log",
            emit=emit,
        )
    except OSError as exc:
        raise JobError(f"{replica.name}: cannot start {shlex.join(command)}: {exc}") from exc


def _wait(
    procs: Sequence[ReplicaProcess], deadline: float, should_stop: Callable[[], bool] | None
) -> tuple[JobState, ReplicaProcess | None]:
    """Poll until every replica exits 0, one fails, the deadline passes or `should_stop()`."""
    while True:
        running = False
        for proc in procs:
            code = proc.poll()
            if code is None:
                running = True
            elif code != 0:
                return JobState.FAILED, proc
        if not running:
            return JobState.SUCCEEDED, None
        if time.monotonic() >= deadline:
            return JobState.TIMED_OUT, None
        if should_stop is not None and should_stop():
            return JobState.CANCELLED, None
        time.sleep(POLL_S)


def _accelerator_notice(pool: Pool, emit: Callable[[str], None]) -> None:
    if not pool.has_accelerator:
        return
    asked = f"{pool.accelerator_type or 'accelerator'} x {pool.accelerator_count}"
    if gpu_passthrough(pool):
        emit(
            f"{_TAG} {pool.name}: {asked} requested; passing "
            f"{CUDA_ENV}={os.environ[CUDA_ENV]!r} through to the replicas"
        )
    else:
        emit(
            f"{_TAG} {pool.name}: {asked} requested; running on CPU locally "
            f"(set {CUDA_ENV} to use local GPUs)"
        )


def _job_spec(job: LocalJob) -> dict:
    """The CustomJobSpec as a dict, as `CLUSTER_SPEC["job"]` carries it."""
    spec: dict[str, object] = {
        "worker_pool_specs": [snake_keys(p) if p else {} for p in job.worker_pool_specs],
        "scheduling": {"timeout": job.timeout or DEFAULT_TIMEOUT},
    }
    if job.base_output_directory:
        spec["base_output_directory"] = {"output_uri_prefix": job.base_output_directory}
    return spec


def _serialised(log: Callable[[str], None]) -> Callable[[str], None]:
    """`log`, called by one thread at a time; its errors never stop a log reader."""
    lock = threading.Lock()

    def emit(line: str) -> None:
        with lock, contextlib.suppress(Exception):  # a broken sink must not stall replicas
            log(line)

    return emit
