"""Each replica's environment under the Vertex runtime contract.

Builds `CLUSTER_SPEC`, `TF_CONFIG`, `MASTER_ADDR`/`MASTER_PORT`/`WORLD_SIZE`/`RANK`, the
`AIP_*` output directories and `CLOUD_ML_TRIAL_ID`, and maps Cloud Storage references
(`gs://b/x` and the FUSE path `/gcs/b/x`) onto the local stand-in for Cloud Storage.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vtp.gcs import GCS_ROOT_ENV
from vtp.local._pools import Pool

LOOPBACK = "127.0.0.1"
CUDA_ENV = "CUDA_VISIBLE_DEVICES"
#: `AIP_*` directory variables and their sub-directory of the base output directory.
AIP_DIRS = {
    "AIP_MODEL_DIR": "model",
    "AIP_CHECKPOINT_DIR": "checkpoints",
    "AIP_TENSORBOARD_LOG_DIR": "logs",
}
#: Set by the platform: never inherited from the environment that runs the twin.
CONTRACT_VARS = frozenset(
    {"CLUSTER_SPEC", "TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"}
    | {"CLOUD_ML_TRIAL_ID", *AIP_DIRS}
)
#: Variables of ours a replica does not inherit: its image decides them.
INHERITED_NOT = frozenset({"PYTHONPATH"})
_TF_ROLES = {0: "chief", 1: "worker", 2: "ps", 3: "evaluator"}
_GCS_REF = re.compile(r"(?<![\w])gs://(?=[^/\s])|(?<![\w.~/-])/gcs/(?=[^/\s])")


@dataclass(frozen=True)
class Replica:
    """Replica `index` of `pool`, reachable at 127.0.0.1:`port`."""

    pool: Pool
    index: int
    port: int

    @property
    def name(self) -> str:
        return f"{self.pool.name}-{self.index}"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


@dataclass(frozen=True)
class OutputDirs:
    """The `AIP_*` directories: local paths (`paths`) and the same in the base's namespace."""

    paths: dict[str, str] = field(default_factory=dict)
    uris: dict[str, str] = field(default_factory=dict)


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def plan_replicas(pools: Sequence[Pool]) -> list[Replica]:
    """One replica per `replica_count` of every pool, each with its own free port."""
    slots = [(pool, j) for pool in pools for j in range(pool.replica_count)]
    ports = free_ports(len(slots))
    return [Replica(pool, j, port) for (pool, j), port in zip(slots, ports, strict=True)]


def rewrite_gcs(value: str, gcs_root: str | os.PathLike) -> str:
    """Every `gs://b/x` and `/gcs/b/x` in `value` -> `<gcs_root>/b/x`."""
    root = str(gcs_root).rstrip("/") + "/"
    return _GCS_REF.sub(lambda _: root, value)


def output_dirs(base: str, gcs_root: str | os.PathLike, trial_id: str | None) -> OutputDirs:
    """`<base>/[<trial_id>/]model/` etc.; none when `base` is empty (as on Vertex)."""
    if not base:
        return OutputDirs()
    local = rewrite_gcs(base, gcs_root)
    if local == base:
        local = str(Path(base).expanduser().resolve())
    prefix = f"{trial_id}/" if trial_id else ""
    paths, uris = {}, {}
    for var, sub in AIP_DIRS.items():
        paths[var] = f"{local.rstrip('/')}/{prefix}{sub}/"
        uris[var] = f"{base.rstrip('/')}/{prefix}{sub}/"
    return OutputDirs(paths, uris)


def cluster_spec(
    replicas: Sequence[Replica], me: Replica, job_spec: Mapping, trial_id: str | None
) -> dict:
    """The `CLUSTER_SPEC` value of replica `me` (as a dict)."""
    cluster: dict[str, list[str]] = {}
    for replica in replicas:
        cluster.setdefault(replica.pool.name, []).append(replica.address)
    task: dict[str, object] = {"type": me.pool.name, "index": me.index}
    if trial_id:
        task["trial"] = trial_id
    return {"cluster": cluster, "environment": "cloud", "task": task, "job": dict(job_spec)}


def tf_config(replicas: Sequence[Replica], me: Replica, trial_id: str | None) -> dict:
    """The `TF_CONFIG` value of replica `me`; evaluators are never listed in `cluster`."""
    cluster: dict[str, list[str]] = {}
    for replica in replicas:
        if replica.pool.index != 3:
            cluster.setdefault(_TF_ROLES[replica.pool.index], []).append(replica.address)
    task: dict[str, object] = {"type": _TF_ROLES[me.pool.index], "index": me.index}
    if trial_id:
        task["trial"] = trial_id
    return {"cluster": cluster, "task": task, "environment": "cloud"}


def gpu_passthrough(pool: Pool, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `pool` gets our `CUDA_VISIBLE_DEVICES`: only when it asks for accelerators."""
    environ = os.environ if environ is None else environ
    return pool.has_accelerator and CUDA_ENV in environ


def replica_env(
    me: Replica,
    replicas: Sequence[Replica],
    *,
    job_spec: Mapping,
    gcs_root: str | os.PathLike,
    dirs: OutputDirs,
    trial_id: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    image_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The full environment of replica `me`.

    Layers, later wins: our environment (minus the platform's variables and `PYTHONPATH`: a
    replica sees only its image's), no GPU unless passed through, the image's environment
    (`image_env`, from its local mapping), the pool's `env`, the contract variables, then
    `extra_env`.
    """
    environ = os.environ if environ is None else environ
    env = {
        k: v
        for k, v in environ.items()
        if k not in CONTRACT_VARS and k not in INHERITED_NOT and not k.startswith("AIP_")
    }
    if not gpu_passthrough(me.pool, environ):
        env[CUDA_ENV] = ""
    env.setdefault("PYTHONUNBUFFERED", "1")
    for name, value in (image_env or {}).items():
        env[name] = rewrite_gcs(value, gcs_root)
    for name, value in me.pool.env:
        env[name] = rewrite_gcs(value, gcs_root)
    env[GCS_ROOT_ENV] = str(gcs_root)
    env.update(dirs.paths)
    if trial_id:
        env["CLOUD_ML_TRIAL_ID"] = trial_id
    env["CLUSTER_SPEC"] = json.dumps(cluster_spec(replicas, me, job_spec, trial_id))
    if len(replicas) > 1:
        primary = replicas[0]
        env["TF_CONFIG"] = json.dumps(tf_config(replicas, me, trial_id))
        env["MASTER_ADDR"] = LOOPBACK
        env["MASTER_PORT"] = str(primary.port)
        env["WORLD_SIZE"] = str(sum(1 for r in replicas if r.pool.index in (0, 1)))
        if me.pool.index in (0, 1):
            env["RANK"] = str(0 if me.pool.index == 0 else 1 + me.index)
    for name, value in (extra_env or {}).items():
        env[str(name)] = rewrite_gcs(str(value), gcs_root)
    return env
