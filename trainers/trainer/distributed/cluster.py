"""Where this replica sits in the job, read from the environment Vertex AI sets.

`CLUSTER_SPEC` (always set on Vertex) names the replica's pool and index; it is the source of
the role. The rendezvous address is `MASTER_ADDR:MASTER_PORT` when set (PyTorch's convention,
set on multi-replica jobs), else the primary's address in `CLUSTER_SPEC`. Without
`CLUSTER_SPEC`, `RANK` / `WORLD_SIZE` / `MASTER_*` alone describe the group (a plain
torchrun-style launch); with none of them the trainer runs as a single process.

Ranks: the primary (`workerpool0`) is rank 0, `workerpool1[i]` is rank `1 + i`; parameter
servers (`workerpool2`) and evaluators (`workerpool3`) hold no rank.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from trainer import TrainerError

PRIMARY, WORKER, PARAMETER_SERVER, EVALUATOR = "primary", "worker", "parameter_server", "evaluator"
#: `CLUSTER_SPEC.task.type` -> role.
POOL_ROLES = {
    "workerpool0": PRIMARY,
    "workerpool1": WORKER,
    "workerpool2": PARAMETER_SERVER,
    "workerpool3": EVALUATOR,
}


def replica_name(rank: int) -> str:
    """The replica holding `rank`: 0 -> `workerpool0-0`, 2 -> `workerpool1-1`."""
    return "workerpool0-0" if rank == 0 else f"workerpool1-{rank - 1}"


@dataclass(frozen=True)
class Cluster:
    """This replica's place in the job.

    Attributes:
        role: `primary`, `worker`, `parameter_server` or `evaluator`.
        rank: 0 for the primary, `1 + index` for a worker, None for the other roles.
        world_size: Replicas taking part in the all-reduce (primary + workers).
        primary_host: Host of the rendezvous (the primary).
        primary_port: Port of the rendezvous.
        name: The replica, as Vertex names its logs (`workerpool1-0`).
        trial: Hyperparameter tuning trial, if any.
    """

    role: str
    rank: int | None
    world_size: int
    primary_host: str
    primary_port: int
    name: str
    trial: str | None = None

    @property
    def is_primary(self) -> bool:
        return self.role == PRIMARY

    @property
    def bind_host(self) -> str:
        """Where the primary listens: a loopback address as given, else every interface."""
        try:
            return self.primary_host if ipaddress.ip_address(self.primary_host).is_loopback else ""
        except ValueError:  # a host name, such as Vertex's workerpool0-...
            return ""


def from_env(environ: Mapping[str, str] | None = None) -> Cluster:
    """The cluster described by `environ` (default: this process's environment).

    Raises:
        TrainerError: The variables are malformed or contradict each other.
    """
    env = os.environ if environ is None else environ
    if env.get("CLUSTER_SPEC"):
        cluster = _from_cluster_spec(env)
    elif env.get("WORLD_SIZE") or env.get("RANK"):
        cluster = _from_torch_vars(env)
    else:
        return Cluster(PRIMARY, 0, 1, "127.0.0.1", 0, replica_name(0))
    _check_torch_vars(cluster, env)
    return cluster


def _from_cluster_spec(env: Mapping[str, str]) -> Cluster:
    raw = env["CLUSTER_SPEC"]
    try:
        spec = json.loads(raw)
        pools = spec["cluster"]
        task_type, index = spec["task"]["type"], int(spec["task"]["index"])
        primary_address = pools["workerpool0"][0]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise TrainerError(
            f"CLUSTER_SPEC must be JSON with cluster.workerpool0[0] and task.type/index, "
            f"got {raw!r} ({err!r})"
        ) from None
    if task_type not in POOL_ROLES:
        raise TrainerError(
            f"CLUSTER_SPEC task.type must be one of {', '.join(POOL_ROLES)}, got {task_type!r}"
        )
    role = POOL_ROLES[task_type]
    rank = 0 if role == PRIMARY else 1 + index if role == WORKER else None
    host, port = _split_address(primary_address, "CLUSTER_SPEC cluster.workerpool0[0]")
    if env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
        host, port = env["MASTER_ADDR"], _port(env["MASTER_PORT"], "MASTER_PORT")
    trial = spec["task"].get("trial")
    return Cluster(
        role=role,
        rank=rank,
        world_size=1 + len(pools.get("workerpool1") or []),
        primary_host=host,
        primary_port=port,
        name=f"{task_type}-{index}",
        trial=str(trial) if trial not in (None, "") else None,
    )


def _from_torch_vars(env: Mapping[str, str]) -> Cluster:
    missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if not env.get(v)]
    if missing:
        raise TrainerError(
            f"without CLUSTER_SPEC, RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT must all be "
            f"set; missing: {', '.join(missing)}"
        )
    rank, world = _number(env["RANK"], "RANK"), _number(env["WORLD_SIZE"], "WORLD_SIZE")
    if not 0 <= rank < world:
        raise TrainerError(f"RANK must be in 0..WORLD_SIZE-1 ({world - 1}), got {rank}")
    return Cluster(
        role=PRIMARY if rank == 0 else WORKER,
        rank=rank,
        world_size=world,
        primary_host=env["MASTER_ADDR"],
        primary_port=_port(env["MASTER_PORT"], "MASTER_PORT"),
        name=replica_name(rank),
    )


def _check_torch_vars(cluster: Cluster, env: Mapping[str, str]) -> None:
    """RANK / WORLD_SIZE, when set, must agree with CLUSTER_SPEC: a disagreement would
    make two replicas claim one rank and the all-reduce wait forever."""
    if env.get("WORLD_SIZE") and _number(env["WORLD_SIZE"], "WORLD_SIZE") != cluster.world_size:
        raise TrainerError(
            f"WORLD_SIZE={env['WORLD_SIZE']} disagrees with CLUSTER_SPEC, which lists "
            f"{cluster.world_size} primary + worker replicas"
        )
    if (
        env.get("RANK")
        and cluster.rank is not None
        and _number(env["RANK"], "RANK") != cluster.rank
    ):
        raise TrainerError(
            f"RANK={env['RANK']} disagrees with CLUSTER_SPEC, which makes {cluster.name} "
            f"rank {cluster.rank}"
        )


def _split_address(address: object, what: str) -> tuple[str, int]:
    if not isinstance(address, str) or ":" not in address:
        raise TrainerError(f"{what} must be HOST:PORT, got {address!r}")
    host, port = address.rsplit(":", 1)
    return host, _port(port, what)


def _number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise TrainerError(f"{what} must be an integer, got {text!r}") from None


def _port(text: str, what: str) -> int:
    port = _number(text, what)
    if not 1 <= port <= 65535:
        raise TrainerError(f"{what} must be a port in 1..65535, got {port}")
    return port
