"""The docker runtime of the local executor: each replica as `docker run` of its pool's image.

Selected with `vtp run --local --runtime docker` (`$VTP_RUNTIME=docker`). A replica's container
gets what it would get on Vertex: the host network (so `CLUSTER_SPEC`'s loopback ports work),
the local Cloud Storage root mounted at `/gcs` (Cloud Storage FUSE on Vertex) with `gs://`
references rewritten to `/gcs/...`, only the contract variables and the pool's `env`, and
`--gpus` for an accelerator pool when a GPU is visible. A replica is stopped by stopping its
container by name, and every container is removed when its job ends.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vtp.errors import JobError, SpecError
from vtp.gcs import GCS_FUSE_ROOT, GCS_ROOT_ENV
from vtp.local._pools import Pool
from vtp.local.replica_env import CUDA_ENV, Replica, rewrite_gcs
from vtp.local.replica_process import ReplicaProcess

RUNTIME_ENV = "VTP_RUNTIME"
PROCESS, DOCKER = "process", "docker"
RUNTIMES = (PROCESS, DOCKER)
#: Extra `docker run` options for every replica (shell syntax), e.g. `--shm-size 2g`.
DOCKER_ARGS_ENV = "VTP_DOCKER_ARGS"
#: Where a python_package_spec's `package_uris` are installed inside the container.
PACKAGES_DIR = "/tmp/vtp-packages"
#: Variables the docker client itself reads: they never carry a container's value.
_CLIENT_VARS = frozenset({"PATH", "HOME", "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK"})
_PROBE_TIMEOUT_S = 20.0
_CLI_TIMEOUT_S = 30.0
INSTALL_DOCKER = "https://docs.docker.com/engine/install/"
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]+")


class DockerUnavailable(JobError):
    """The docker runtime was selected where no Docker engine answers."""


def check_runtime(value: str, field: str = RUNTIME_ENV) -> str:
    """`value` if it names a runtime, else a SpecError naming `field`."""
    if value not in RUNTIMES:
        raise SpecError(field, value, f"must be one of {', '.join(RUNTIMES)}")
    return value


def runtime_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The runtime `$VTP_RUNTIME` selects; `process` when unset."""
    raw = (os.environ if environ is None else environ).get(RUNTIME_ENV, "").strip()
    return check_runtime(raw) if raw else PROCESS


def select_runtime(runtime: str | None) -> str:
    """Make `runtime` the one the pipeline's steps use (`$VTP_RUNTIME`); None keeps the
    environment's. The docker runtime needs an engine now, not in the middle of a run."""
    chosen = runtime_from_env() if runtime is None else check_runtime(runtime, "--runtime")
    if chosen == DOCKER:
        docker_engine()
    os.environ[RUNTIME_ENV] = chosen
    return chosen


@dataclass(frozen=True)
class Engine:
    """The Docker engine that answered `docker info`."""

    docker: str
    version: str
    rootless: bool = False
    desktop: bool = False

    @property
    def maps_user(self) -> bool:
        """Whether containers run as our uid: with a rootful Linux engine, so the files they
        write under the local Cloud Storage root stay ours (rootless and Desktop map root)."""
        return not (self.rootless or self.desktop) and hasattr(os, "getuid")


_engine_lock = threading.Lock()
_engine: Engine | None = None


def docker_engine(refresh: bool = False) -> Engine:
    """The local Docker engine (remembered once found); DockerUnavailable, saying what to
    install or start, when none answers."""
    try:
        return _cached_engine(refresh)
    except DockerUnavailable as err:
        raise DockerUnavailable(
            f"the docker runtime needs a running Docker engine ({err}); install Docker Engine "
            f"({INSTALL_DOCKER}) and start it, or use the process runtime (--runtime process)"
        ) from None


def engine_problem() -> str | None:
    """Why no Docker engine can be used here (e.g. `docker` is not on PATH), None when one
    answers."""
    try:
        _cached_engine()
    except DockerUnavailable as err:
        return str(err)
    return None


def _cached_engine(refresh: bool = False) -> Engine:
    global _engine
    with _engine_lock:
        if _engine is None or refresh:
            _engine = _probe_engine()
        return _engine


def _probe_engine() -> Engine:
    docker = shutil.which("docker")
    if docker is None:
        raise DockerUnavailable("`docker` is not on PATH")
    try:
        done = subprocess.run(
            [docker, "info", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerUnavailable(f"`docker info` did not answer ({exc})") from None
    info: dict = {}
    with contextlib.suppress(json.JSONDecodeError):
        info = json.loads(done.stdout or "{}")
    if done.returncode != 0 or not info.get("ServerVersion"):
        errors = [*(info.get("ServerErrors") or []), *done.stderr.strip().splitlines()[-1:]]
        reason = errors[0] if errors else f"exit code {done.returncode}"
        raise DockerUnavailable(f"`docker info` says: {reason.strip()}")
    security = " ".join(str(s) for s in info.get("SecurityOptions") or [])
    return Engine(
        docker=docker,
        version=str(info["ServerVersion"]),
        rootless="rootless" in security,
        desktop="Docker Desktop" in str(info.get("OperatingSystem", "")),
    )


_gpu_lock = threading.Lock()
_gpus: int | None = None


def visible_gpus() -> int:
    """How many GPUs `nvidia-smi -L` lists here (0 without it); asked once per process."""
    global _gpus
    with _gpu_lock:
        if _gpus is None:
            _gpus = _count_gpus()
        return _gpus


def _count_gpus() -> int:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if done.returncode != 0:
        return 0
    return sum(1 for line in done.stdout.splitlines() if line.startswith("GPU "))


def gpu_request(
    pool: Pool, environ: Mapping[str, str] | None = None, gpus: Callable[[], int] = visible_gpus
) -> str | None:
    """The `--gpus` value of `pool`'s containers, None when they run on the CPU.

    Only a pool with accelerators gets GPUs: the devices `CUDA_VISIBLE_DEVICES` names when it is
    set (empty or `-1` hides them all, as for a process), else all of them when `nvidia-smi`
    lists any.
    """
    if not pool.has_accelerator:
        return None
    environ = os.environ if environ is None else environ
    if CUDA_ENV in environ:
        devices = environ[CUDA_ENV].replace(" ", "")
        return None if devices in ("", "-1") else f'"device={devices}"'
    return "all" if gpus() > 0 else None


def gpu_notice(pool: Pool, request: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The one line that tells where `pool`'s accelerators went."""
    environ = os.environ if environ is None else environ
    asked = f"{pool.accelerator_type or 'accelerator'} x {pool.accelerator_count}"
    if request is not None:
        return f"{pool.name}: {asked} requested; containers get `--gpus {request}`"
    why = (
        f"{CUDA_ENV}={environ[CUDA_ENV]!r} hides every GPU"
        if CUDA_ENV in environ
        else "nvidia-smi lists no GPU here"
    )
    return f"{pool.name}: {asked} requested; running on CPU locally ({why})"


@dataclass(frozen=True)
class ContainerRun:
    """One replica's `docker run`: `argv` runs with `client_env`, which holds the values of the
    `-e NAME` options (so they stay out of process listings and logs)."""

    name: str
    argv: list[str]
    client_env: dict[str, str]

    def environment(self) -> dict[str, str]:
        """The variables the container receives, by name."""
        out = {}
        for flag, value in itertools.pairwise(self.argv):
            if flag == "-e":
                name, sep, literal = value.partition("=")
                out[name] = literal if sep else self.client_env[name]
        return out


def new_token() -> str:
    """A short random token that makes a job's container names unique on the host."""
    return uuid.uuid4().hex[:8]


def container_name(job_name: str, token: str, replica: str) -> str:
    """`vtp-<job>-<token>-<replica>`, in the characters docker allows."""
    slug = _NAME_CHARS.sub("-", job_name).strip("-._")[:40] or "job"
    return f"vtp-{slug}-{token}-{replica}"


def container_run(
    replica: Replica,
    *,
    env: Mapping[str, str],
    extra_args: Sequence[str],
    gcs_root: Path,
    mounts: Sequence[tuple[Path, str, bool]],
    engine: Engine,
    name: str,
    job_name: str,
    gpus: str | None,
    environ: Mapping[str, str] | None = None,
) -> ContainerRun:
    """The `docker run` of `replica`.

    Args:
        replica: The replica.
        env: Its container's variables (values already in the container's paths).
        extra_args: Appended after the pool's args (a trial's `--param=value`); `gs://` in
            either becomes `/gcs/`.
        gcs_root: The local Cloud Storage root, mounted at `/gcs`.
        mounts: More `(host path, container path, read_only)` binds.
        engine: The engine (whether to run as our uid).
        name: The container's name.
        job_name: The job's display name (a label).
        gpus: The `--gpus` value, None for none.
        environ: Our environment, for the docker client's own variables and `$VTP_DOCKER_ARGS`.
    """
    environ = os.environ if environ is None else environ
    pool = replica.pool
    client = {k: v for k, v in environ.items() if k in _CLIENT_VARS or k.startswith("DOCKER_")}
    argv = [engine.docker, "run", "--rm", "--init", "--name", name, "--network", "host"]
    argv += ["--label", f"vtp.job={job_name}", "--label", f"vtp.replica={replica.name}"]
    if engine.maps_user:
        argv += ["--user", f"{os.getuid()}:{os.getgid()}"]
    argv += ["-v", f"{gcs_root}:{GCS_FUSE_ROOT}"]
    for host, target, read_only in mounts:
        argv += ["-v", f"{host}:{target}" + (":ro" if read_only else "")]
    if gpus is not None:
        argv += ["--gpus", gpus]
    for var in sorted(env):
        if var in _CLIENT_VARS or var.startswith("DOCKER_"):
            argv += ["-e", f"{var}={env[var]}"]  # the client needs its own value of these
        else:
            argv += ["-e", var]
            client[var] = env[var]
    argv += _docker_args(environ)
    args = [rewrite_to_mount(str(a)) for a in (*pool.args, *extra_args)]
    argv += _entrypoint_and_args(pool, args)
    return ContainerRun(name, argv, client)


def rewrite_to_mount(value: str) -> str:
    """Every `gs://b/x` in `value` -> `/gcs/b/x` (`/gcs/...` stays: it is the mount)."""
    return rewrite_gcs(value, GCS_FUSE_ROOT)


def _entrypoint_and_args(pool: Pool, args: list[str]) -> list[str]:
    """`--entrypoint X IMAGE rest...`: `command` replaces the ENTRYPOINT, `args` the CMD."""
    if pool.is_python_package:
        packages = [_package_path(uri) for uri in pool.package_uris]
        if not packages:
            return ["--entrypoint", "python", pool.image_uri, "-m", pool.python_module, *args]
        script = (
            "set -e; python -m pip install --quiet --disable-pip-version-check "
            f"--no-warn-script-location --target {PACKAGES_DIR} "
            + " ".join(shlex.quote(p) for p in packages)
            + f"; export PYTHONPATH={PACKAGES_DIR}${{PYTHONPATH:+:$PYTHONPATH}}; exec python -m "
            + shlex.quote(pool.python_module)
            + ' "$@"'
        )
        return ["--entrypoint", "sh", pool.image_uri, "-c", script, f"vtp-{pool.name}", *args]
    command = [rewrite_to_mount(c) for c in pool.command]
    if not command:
        return [pool.image_uri, *args]
    return ["--entrypoint", command[0], pool.image_uri, *command[1:], *args]


def _package_path(uri: str) -> str:
    """A package URI as the container sees it: `gs://` under `/gcs`, a local file as itself."""
    mapped = rewrite_to_mount(uri)
    if mapped.startswith(GCS_FUSE_ROOT + "/") or "://" in mapped:
        return mapped
    return str(Path(mapped).expanduser().resolve())


def package_mounts(pool: Pool) -> list[tuple[Path, str, bool]]:
    """Read-only binds for `pool`'s local (non Cloud Storage) package files."""
    out = []
    for uri in pool.package_uris:
        path = _package_path(uri)
        if not path.startswith(GCS_FUSE_ROOT + "/") and "://" not in path:
            out.append((Path(path), path, True))
    return out


def _docker_args(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get(DOCKER_ARGS_ENV, "").strip()
    if not raw:
        return []
    try:
        return shlex.split(raw)
    except ValueError as exc:
        raise SpecError(DOCKER_ARGS_ENV, raw, f"must be docker run options ({exc})") from None


def container_env(
    env: Mapping[str, str], pool: Pool, extra_env: Mapping[str, str] | None
) -> dict[str, str]:
    """A replica's environment, as the container gets it: the contract variables, the pool's
    `env` and `extra_env`; not our `CUDA_VISIBLE_DEVICES` (`--gpus` chooses the devices and
    the container numbers them from 0) nor `VTP_GCS_ROOT` (`/gcs` is mounted, as on Vertex)."""
    named = {name for name, _ in pool.env} | set(extra_env or {})
    return {k: v for k, v in env.items() if k not in (CUDA_ENV, GCS_ROOT_ENV) or k in named}


def describe_docker_exit(code: int) -> str:
    """What docker's own exit codes mean, '' for the container's."""
    if code == 125:
        return " (docker could not run the container: see the log for docker's error)"
    if code == 126:
        return " (the container's command cannot be invoked)"
    if code == 127:
        return " (the container's command was not found in the image)"
    if code > 128:
        with contextlib.suppress(ValueError):
            return f" (the container was killed by {signal.Signals(code - 128).name})"
    return ""


class ContainerProcess(ReplicaProcess):
    """A replica's attached `docker run` client. Signals go to the container by name; the
    container is removed when the replica is stopped or done."""

    def __init__(self, name: str, run: ContainerRun, **kwargs):
        self.container = run.name
        self._docker = run.argv[0]
        super().__init__(name, run.argv, env=run.client_env, **kwargs)

    def signal_group(self, sig: int) -> None:
        """`docker kill --signal` the container; SIGKILL also ends the client."""
        _cli(self._docker, "kill", "--signal", signal.Signals(sig).name, self.container)
        if sig == signal.SIGKILL:
            super().signal_group(sig)

    def remove_container(self) -> None:
        """`docker rm --force` the container (gone already after a normal `--rm` exit)."""
        _cli(self._docker, "rm", "--force", self.container)


def _cli(docker: str, *args: str) -> None:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [docker, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_CLI_TIMEOUT_S,
            check=False,
        )
