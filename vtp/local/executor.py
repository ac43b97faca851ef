"""The local custom-job executor: a Vertex custom job's worker pools, run on this machine.

Each replica of each pool runs with the Vertex runtime contract (docs: vertex-contract.md):
`CLUSTER_SPEC`, `TF_CONFIG`, `MASTER_*`, `AIP_*` directories, and Cloud Storage references
mapped onto a local root. Two runtimes: `process` (the default) runs each replica as a local
process; `docker` runs each as `docker run` of its pool's image (`docker_runtime.py`). The job
succeeds when every replica exits 0; the first failure, the timeout, or `should_stop()` stops
every replica (its process group, or its container).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from vtp.errors import JobError
from vtp.gcs import GCS_FUSE_ROOT
from vtp.local._commands import (
    IMAGE_COMMANDS_ENV,
    ImageCommand,
    Launch,
    as_image_commands,
    image_commands_from_env,
    pool_launch,
)
from vtp.local._pools import DEFAULT_TIMEOUT, Pool, parse_pools, parse_timeout, snake_keys
from vtp.local.docker_runtime import (
    DOCKER,
    PROCESS,
    RUNTIME_ENV,
    RUNTIMES,
    ContainerProcess,
    ContainerRun,
    DockerUnavailable,
    Engine,
    check_runtime,
    container_env,
    container_name,
    container_run,
    describe_docker_exit,
    docker_engine,
    gpu_notice,
    gpu_request,
    new_token,
    package_mounts,
    runtime_from_env,
    select_runtime,
    visible_gpus,
)
from vtp.local.replica_env import (
    CUDA_ENV,
    OutputDirs,
    Replica,
    gpu_passthrough,
    output_dirs,
    plan_replicas,
    replica_env,
    rewrite_gcs,
)
from vtp.local.replica_process import (
    ReplicaProcess,
    Terminated,
    describe_exit,
    sigterm_raises,
    stop_all,
)

__all__ = [
    "DOCKER",
    "IMAGE_COMMANDS_ENV",
    "PROCESS",
    "RUNTIMES",
    "RUNTIME_ENV",
    "ContainerRun",
    "DockerUnavailable",
    "Engine",
    "ImageCommand",
    "JobResult",
    "JobState",
    "LocalJob",
    "LocalJobFailed",
    "ReplicaResult",
    "docker_runs",
    "image_commands_from_env",
    "run_local_job",
    "runtime_from_env",
    "select_runtime",
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
    image_commands: Mapping[str, object] | None = None,
    trial_id: str | None = None,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    replica_env_for: Callable[[str], Mapping[str, str]] | None = None,
    log: Callable[[str], None] = print,
    should_stop: Callable[[], bool] | None = None,
    cwd: Path | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    runtime: str | None = None,
    notice: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
    envs_root: Path | None = None,
) -> JobResult:
    """Run `job` on this machine under the Vertex runtime contract.

    Args:
        job: The custom job payload.
        work_dir: Where `logs/<replica>.log` go.
        gcs_root: Local stand-in for Cloud Storage (`gs://b/x` -> `<gcs_root>/b/x`).
        image_commands: `{image_uri: ImageCommand}`: what an image runs locally (its
            ENTRYPOINT's command, environment, working directory); None reads
            `$VTP_IMAGE_COMMANDS`. vtp's reference trainer images have built-in entries.
            Process runtime only.
        trial_id: Tuning trial id: per-trial `AIP_*` dirs and `CLOUD_ML_TRIAL_ID`.
        extra_args: Appended after every pool's args (`--param=value` of a trial).
        extra_env: Added to every replica's environment, last.
        replica_env_for: Given a replica's name (`workerpool0-0`, `workerpool1-0`...), more
            variables for that replica alone, added after `extra_env` (each replica of a
            tuning trial writes its own hypertune file).
        log: Receives every output line, prefixed `[workerpoolI-J]`, and the job's notices.
        should_stop: Polled while running; True stops the job with state CANCELLED.
        cwd: Working directory of the replicas (default: the image mapping's `workdir`, else
            a fresh directory per replica under `work_dir/replicas/`; process runtime only).
        stop_grace_s: Seconds between SIGTERM and SIGKILL when stopping replicas.
        runtime: `process` (local processes) or `docker` (`docker run` of each pool's image);
            None reads `$VTP_RUNTIME`, default `process`.
        notice: Receives what the user should know once, in plain words (a GPU pool that
            runs on CPU here), besides `log`.
        progress: Receives `replicas up k of n` as replicas start (jobs of several replicas).
        envs_root: Where Python package pools get their cached environments (default
            `$VTP_HOME/envs`).

    Returns:
        The result, with state SUCCEEDED or CANCELLED.

    Raises:
        SpecError: The payload is invalid.
        DockerUnavailable: The docker runtime was chosen and no Docker engine answers.
        LocalJobFailed: A replica failed or the job exceeded its timeout (a `JobError`).
        JobError: A replica cannot be started locally.
    """
    runtime = runtime_from_env() if runtime is None else check_runtime(runtime, "runtime")
    engine = docker_engine() if runtime == DOCKER else None
    timeout_s = parse_timeout(job.timeout)
    work_dir = Path(work_dir).expanduser().resolve()
    logs_dir = work_dir / "logs"
    emit = _serialised(log)
    plan = _plan(
        job,
        gcs_root=gcs_root,
        image_commands=image_commands,
        trial_id=trial_id,
        extra_args=extra_args,
        extra_env=extra_env,
        replica_env_for=replica_env_for,
        emit=emit,
        engine=engine,
        envs_root=envs_root,
        work_dir=work_dir,
        cwd=cwd,
    )
    for pool in plan.pools:
        _accelerator_notice(pool, emit, engine, notice)

    return _supervise(
        job,
        plan,
        logs_dir=logs_dir,
        emit=emit,
        timeout_s=timeout_s,
        should_stop=should_stop,
        grace=stop_grace_s,
        progress=progress,
    )


def docker_runs(
    job: LocalJob,
    *,
    gcs_root: Path,
    engine: Engine,
    trial_id: str | None = None,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    replica_env_for: Callable[[str], Mapping[str, str]] | None = None,
    gpus: Callable[[], int] = visible_gpus,
) -> dict[str, ContainerRun]:
    """The `docker run` of every replica of `job`, by replica name, as the docker runtime
    would start them (nothing is started; output directories are created)."""
    plan = _plan(
        job,
        gcs_root=gcs_root,
        image_commands={},
        trial_id=trial_id,
        extra_args=extra_args,
        extra_env=extra_env,
        replica_env_for=replica_env_for,
        emit=lambda _: None,
        engine=engine,
        gpus=gpus,
    )
    return plan.containers


@dataclass
class _Plan:
    """What runs: the started pools, their replicas, each replica's command and environment
    (for the docker runtime: the `docker run` and the docker client's environment)."""

    pools: list[Pool]
    replicas: list[Replica]
    dirs: OutputDirs
    commands: dict[str, list[str]]
    envs: dict[str, dict[str, str]]
    containers: dict[str, ContainerRun] = field(default_factory=dict)
    cwds: dict[str, Path] = field(default_factory=dict)
    gcs_root: Path | None = None


def _plan(
    job: LocalJob,
    *,
    gcs_root: Path,
    image_commands: Mapping[str, object] | None,
    trial_id: str | None,
    extra_args: Sequence[str],
    extra_env: Mapping[str, str] | None,
    emit: Callable[[str], None],
    engine: Engine | None,
    replica_env_for: Callable[[str], Mapping[str, str]] | None = None,
    gpus: Callable[[], int] = visible_gpus,
    envs_root: Path | None = None,
    work_dir: Path | None = None,
    cwd: Path | None = None,
) -> _Plan:
    pools = parse_pools(job.worker_pool_specs)
    trial = str(trial_id) if trial_id not in (None, "") else None
    gcs_root = Path(gcs_root).expanduser().resolve()
    gcs_root.mkdir(parents=True, exist_ok=True)

    running_pools = []
    for pool in pools:
        if pool.is_reduction_server:
            emit(
                f"{_TAG} {pool.name}: Reduction Server image {pool.image_uri} is not started "
                "locally (it only speeds up all-reduce between Vertex machines)"
            )
        else:
            running_pools.append(pool)
    launches: dict[int, Launch] = {}
    if engine is None:
        mapping = as_image_commands(image_commands)
        if mapping is None:
            mapping = image_commands_from_env()
        for p in running_pools:
            launches[p.index] = pool_launch(
                p,
                mapping,
                gcs_root=gcs_root,
                envs_root=envs_root,
                log=lambda line: emit(f"{_TAG} {line}"),
            )
            if launches[p.index].description:
                emit(f"{_TAG} {p.name}: {p.image_uri} runs {launches[p.index].description}")
    replicas = plan_replicas(running_pools)
    dirs = output_dirs(job.base_output_directory, gcs_root, trial)
    for path in dirs.paths.values():
        Path(path).mkdir(parents=True, exist_ok=True)
    spec = _job_spec(job)
    if engine is not None:
        containers = _container_runs(
            job,
            replicas,
            job_spec=spec,
            gcs_root=gcs_root,
            trial_id=trial,
            extra_args=extra_args,
            extra_env=extra_env,
            replica_env_for=replica_env_for,
            engine=engine,
            gpus=gpus,
        )
        commands = {n: c.argv for n, c in containers.items()}
        envs = {n: c.client_env for n, c in containers.items()}
        return _Plan(running_pools, replicas, dirs, commands, envs, containers)
    envs = {}
    cwds = {}
    for r in replicas:
        launch = launches[r.pool.index]
        envs[r.name] = replica_env(
            r,
            replicas,
            job_spec=spec,
            gcs_root=gcs_root,
            dirs=dirs,
            trial_id=trial,
            extra_env=_replica_extra_env(extra_env, replica_env_for, r.name),
            image_env=launch.env,
        )
        if launch.pythonpath:  # the image's code, as it is on the image's path
            path = envs[r.name].get("PYTHONPATH")
            entries = [*launch.pythonpath, *([path] if path else [])]
            envs[r.name]["PYTHONPATH"] = os.pathsep.join(entries)
        cwds[r.name] = _replica_dir(r, launch, cwd, work_dir)
    commands = {
        r.name: [
            rewrite_gcs(str(part), gcs_root)
            for part in (*launches[r.pool.index].command, *r.pool.args, *extra_args)
        ]
        for r in replicas
    }
    return _Plan(running_pools, replicas, dirs, commands, envs, cwds=cwds, gcs_root=gcs_root)


def _replica_dir(replica: Replica, launch: Launch, cwd: Path | None, work_dir: Path | None) -> Path:
    """Where a replica runs: `cwd` when given, else its image's WORKDIR (mapping), else a fresh
    empty directory of its own, so nothing in the caller's directory can shadow a module."""
    if cwd is not None:
        return Path(cwd)
    if launch.cwd:
        return Path(launch.cwd)
    root = work_dir if work_dir is not None else Path(tempfile.mkdtemp(prefix="vtp-job-"))
    path = root / "replicas" / replica.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _replica_extra_env(
    extra_env: Mapping[str, str] | None,
    replica_env_for: Callable[[str], Mapping[str, str]] | None,
    name: str,
) -> dict[str, str]:
    """`extra_env` and then the variables of replica `name` alone."""
    return {**(extra_env or {}), **(replica_env_for(name) if replica_env_for else {})}


def _container_runs(
    job: LocalJob,
    replicas: Sequence[Replica],
    *,
    job_spec: Mapping,
    gcs_root: Path,
    trial_id: str | None,
    extra_args: Sequence[str],
    extra_env: Mapping[str, str] | None,
    engine: Engine,
    gpus: Callable[[], int],
    replica_env_for: Callable[[str], Mapping[str, str]] | None = None,
) -> dict[str, ContainerRun]:
    """Each replica's `docker run`. Inside, Cloud Storage is `/gcs` (the local root mounted
    there); host paths the job itself names (a local base output directory, the hypertune
    metrics file of `extra_env`) are mounted at the same path."""
    base = job.base_output_directory
    inside = output_dirs(base, GCS_FUSE_ROOT, trial_id)
    mounts: list[tuple[Path, str, bool]] = []
    if base and not base.startswith(("gs://", GCS_FUSE_ROOT + "/")):
        host_base = Path(base).expanduser().resolve()
        mounts.append((host_base, str(host_base), False))
    envs = {r.name: _replica_extra_env(extra_env, replica_env_for, r.name) for r in replicas}
    for value in (v for env in envs.values() for v in env.values()):
        value = str(value)
        if os.path.isabs(value) and not value.startswith(GCS_FUSE_ROOT + "/"):
            parent = Path(value).parent
            parent.mkdir(parents=True, exist_ok=True)
            mounts.append((parent, str(parent), False))
    token = new_token()
    runs = {}
    for replica in replicas:
        env = replica_env(
            replica,
            replicas,
            job_spec=job_spec,
            gcs_root=GCS_FUSE_ROOT,
            dirs=inside,
            trial_id=trial_id,
            extra_env=envs[replica.name],
            environ={},
        )
        runs[replica.name] = container_run(
            replica,
            env=container_env(env, replica.pool, envs[replica.name]),
            extra_args=extra_args,
            gcs_root=gcs_root,
            mounts=[*dict.fromkeys(mounts), *package_mounts(replica.pool)],
            engine=engine,
            name=container_name(job.display_name, token, replica.name),
            job_name=job.display_name,
            gpus=gpu_request(replica.pool, gpus=gpus),
        )
    return runs


def _supervise(
    job: LocalJob,
    plan: _Plan,
    *,
    logs_dir: Path,
    emit: Callable[[str], None],
    timeout_s: float,
    should_stop: Callable[[], bool] | None,
    grace: float,
    progress: Callable[[str], None] | None = None,
) -> JobResult:
    """Start every replica, wait for the outcome, and leave no process or container behind."""
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
            output_dirs=dict(plan.dirs.paths),
            output_uris=dict(plan.dirs.uris),
            duration_s=round(time.monotonic() - started, 3),
        )

    terminated = False
    with sigterm_raises() as redeliver:
        try:
            for replica in plan.replicas:
                procs.append(_start(replica, plan, logs_dir, emit))
                if progress is not None and len(plan.replicas) > 1:
                    progress(f"replicas up {len(procs)} of {len(plan.replicas)}")
            outcome, failed = _wait(procs, started + timeout_s, should_stop)
            _stop_all(procs, grace)  # grandchildren left by replicas that exited
        except Terminated:
            emit(f"{_TAG} SIGTERM: stopping every replica")
            _stop_all(procs, grace)
            terminated = True
        except BaseException:
            _stop_all(procs, grace)
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
    code = replica.exit_code or 0
    hint = describe_docker_exit(code) if plan.containers else ""
    tail = "\n".join(f"  | {line}" for line in replica.tail) or "  | (no output)"
    raise LocalJobFailed(
        f"local job {job.display_name!r} failed: replica {replica.name} "
        f"{describe_exit(code)}{hint}; the other replicas were stopped.\n"
        f"command: {shlex.join(replica.command)}\n"
        f"last {len(replica.tail)} lines of {replica.log_path}:\n{tail}"
        + _fuse_hint(replica.tail, plan)
        + _package_hint(replica.tail, next(r.pool for r in plan.replicas if r.name == failed.name)),
        final,
        replica.name,
    )


def _start(
    replica: Replica,
    plan: _Plan,
    logs_dir: Path,
    emit: Callable[[str], None],
) -> ReplicaProcess:
    command = plan.commands[replica.name]
    emit(f"{_TAG} starting {replica.name}: {shlex.join(command)}")
    log_path = logs_dir / f"{replica.name}.log"
    try:
        if replica.name in plan.containers:
            return ContainerProcess(
                replica.name, plan.containers[replica.name], cwd=None, log_path=log_path, emit=emit
            )
        return ReplicaProcess(
            replica.name,
            command,
            env=plan.envs[replica.name],
            cwd=plan.cwds.get(replica.name),
            log_path=log_path,
            emit=emit,
        )
    except OSError as exc:
        raise JobError(f"{replica.name}: cannot start {shlex.join(command)}: {exc}") from exc


def _fuse_hint(tail: Sequence[str], plan: _Plan) -> str:
    """A note when a failed replica's log names a `/gcs/` path that is not mapped here."""
    if plan.containers or plan.gcs_root is None or str(plan.gcs_root) == GCS_FUSE_ROOT:
        return ""
    if not any(f"{GCS_FUSE_ROOT}/" in line for line in tail):
        return ""
    return (
        f"\nhint: the log names a {GCS_FUSE_ROOT}/ path. Locally Cloud Storage is "
        f"{plan.gcs_root}: gs:// URIs and {GCS_FUSE_ROOT}/ paths the trainer is given "
        "(AIP_* variables, arguments) are mapped there, but a /gcs/ path written in the "
        "trainer's code is not; derive it from AIP_MODEL_DIR or an argument instead."
    )


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def _package_hint(tail: Sequence[str], pool: Pool) -> str:
    """A note when a Python package trainer misses a module: its environment here holds the
    package and what it declares, never what Vertex's prebuilt image has installed."""
    if not pool.is_python_package:
        return ""
    missing = [m.group(1) for line in tail if (m := _MISSING_MODULE.search(line))]
    if not missing:
        return ""
    top = missing[-1].split(".")[0]
    return (
        f"\nhint: {top!r} is not in the trainer's environment, which holds the package and "
        "the dependencies it declares (the requirements.txt beside a script, a package's "
        f"own dependencies). On Vertex AI the prebuilt image {pool.image_uri} may provide "
        f"it; here nothing stands in for that image's packages: declare {top!r} (pinned as "
        "the image has it) so that both places run the same code."
    )


def _stop_all(procs: Sequence[ReplicaProcess], grace: float) -> None:
    """Stop every live replica; then remove every container, so none outlives its job."""
    try:
        stop_all(procs, grace)
    finally:
        for proc in procs:
            if isinstance(proc, ContainerProcess):
                proc.remove_container()


def _wait(
    procs: Sequence[ReplicaProcess], deadline: float, should_stop: Callable[[], bool] | None
) -> tuple[JobState, ReplicaProcess | None]:
    """Poll until every replica exits 0, one fails, the deadline passes or `should_stop()`."""
    while True:
        codes = [proc.poll() for proc in procs]
        failed = [proc for proc, code in zip(procs, codes, strict=True) if code not in (None, 0)]
        if failed:  # several may have exited since the last poll: blame the first to exit
            return JobState.FAILED, min(failed, key=lambda p: p.ended or time.monotonic())
        if None not in codes:
            return JobState.SUCCEEDED, None
        if time.monotonic() >= deadline:
            return JobState.TIMED_OUT, None
        if should_stop is not None and should_stop():
            return JobState.CANCELLED, None
        time.sleep(POLL_S)


def _accelerator_notice(
    pool: Pool,
    emit: Callable[[str], None],
    engine: Engine | None,
    notice: Callable[[str], None] | None = None,
) -> None:
    """One line per accelerator pool: which GPUs its replicas get, or that they run on CPU;
    in the job's log, and to `notice` in plain words (said once per run by its caller)."""
    if not pool.has_accelerator:
        return
    if engine is not None:
        text = gpu_notice(pool, gpu_request(pool))
        emit(f"{_TAG} {text}")
        if notice is not None:
            notice(text)
        return
    asked = f"{pool.accelerator_type or 'accelerator'} x {pool.accelerator_count}"
    if gpu_passthrough(pool):
        emit(
            f"{_TAG} {pool.name}: {asked} requested; passing "
            f"{CUDA_ENV}={os.environ[CUDA_ENV]!r} through to the replicas"
        )
        plain = (
            f"{pool_words(pool)} asks for {count_words(pool)}; its replicas get "
            f"{CUDA_ENV}={os.environ[CUDA_ENV]!r}"
        )
    else:
        emit(
            f"{_TAG} {pool.name}: {asked} requested; running on CPU locally "
            f"(set {CUDA_ENV} to use local GPUs)"
        )
        plain = (
            f"{pool_words(pool)} asks for {count_words(pool)}; this machine gives it no GPU, "
            f"so it runs on CPU (set {CUDA_ENV} to give it local GPUs)"
        )
    if notice is not None:
        notice(plain)


def pool_words(pool: Pool) -> str:
    """`workerpool 0` for `workerpool0`."""
    return re.sub(r"^workerpool(\d+)$", r"workerpool \1", pool.name)


def count_words(pool: Pool) -> str:
    """`1 x NVIDIA_TESLA_T4`."""
    return f"{pool.accelerator_count or 1} x {pool.accelerator_type or 'accelerator'}"


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
