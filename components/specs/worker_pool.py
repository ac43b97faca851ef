"""One worker pool: machines, replicas and what they run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vtp.components.specs._validate import check_int, check_str, str_map, str_tuple
from vtp.components.specs.containers import ContainerSpec, PythonPackageSpec
from vtp.components.specs.machines import DiskSpec, MachineSpec
from vtp.errors import SpecError


@dataclass(frozen=True)
class NfsMount:
    """An NFS export `server:path` mounted at `/mnt/nfs/<mount_point>` in every replica."""

    server: str
    path: str
    mount_point: str

    def __post_init__(self) -> None:
        check_str("nfs_mount.server", self.server, required=True)
        if not check_str("nfs_mount.path", self.path).startswith("/"):
            raise SpecError("nfs_mount.path", self.path, "must start with '/'")
        check_str("nfs_mount.mount_point", self.mount_point, required=True)

    def to_dict(self) -> dict[str, str]:
        """The proto JSON dict (snake_case)."""
        return {"server": self.server, "path": self.path, "mount_point": self.mount_point}


def merge_args(args: Sequence[str], extra: Sequence[str]) -> tuple[str, ...]:
    """`args + extra`, where each `--flag=value` in `extra` drops earlier `--flag=...` entries.

    Only the `--flag=value` form is matched: a `--flag value` pair is left alone.
    """
    merged = list(args)
    for arg in extra:
        if arg.startswith("--") and "=" in arg:
            prefix = arg.split("=", 1)[0] + "="
            merged = [a for a in merged if not a.startswith(prefix)]
        merged.append(arg)
    return tuple(merged)


@dataclass(frozen=True)
class WorkerPoolSpec:
    """A pool of identical replicas; exactly one of `container_spec`/`python_package_spec`."""

    machine_spec: MachineSpec
    container_spec: ContainerSpec | None = None
    python_package_spec: PythonPackageSpec | None = None
    replica_count: int = 1
    disk_spec: DiskSpec | None = None
    nfs_mounts: Sequence[NfsMount] = ()

    def __post_init__(self) -> None:
        root = "worker_pool_spec"
        if not isinstance(self.machine_spec, MachineSpec):
            raise SpecError(f"{root}.machine_spec", self.machine_spec, "must be a MachineSpec")
        has_container = self.container_spec is not None
        has_package = self.python_package_spec is not None
        if has_container == has_package:
            raise SpecError(
                root,
                "both" if has_container else "neither",
                "must set exactly one of container_spec and python_package_spec",
            )
        if has_container and not isinstance(self.container_spec, ContainerSpec):
            raise SpecError(
                f"{root}.container_spec", self.container_spec, "must be a ContainerSpec"
            )
        if has_package and not isinstance(self.python_package_spec, PythonPackageSpec):
            raise SpecError(
                f"{root}.python_package_spec",
                self.python_package_spec,
                "must be a PythonPackageSpec",
            )
        check_int(f"{root}.replica_count", self.replica_count, minimum=1)
        if self.disk_spec is not None and not isinstance(self.disk_spec, DiskSpec):
            raise SpecError(f"{root}.disk_spec", self.disk_spec, "must be a DiskSpec or None")
        if isinstance(self.nfs_mounts, str) or not isinstance(self.nfs_mounts, Sequence):
            raise SpecError(f"{root}.nfs_mounts", self.nfs_mounts, "must be a sequence of NfsMount")
        for i, mount in enumerate(self.nfs_mounts):
            if not isinstance(mount, NfsMount):
                raise SpecError(f"{root}.nfs_mounts[{i}]", mount, "must be an NfsMount")
        object.__setattr__(self, "nfs_mounts", tuple(self.nfs_mounts))

    @property
    def runnable(self) -> ContainerSpec | PythonPackageSpec:
        """The container or Python package spec, whichever is set."""
        return self.container_spec or self.python_package_spec  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict Vertex receives (snake_case), unset fields omitted."""
        out: dict[str, Any] = {
            "machine_spec": self.machine_spec.to_dict(),
            "replica_count": self.replica_count,
        }
        if self.container_spec is not None:
            out["container_spec"] = self.container_spec.to_dict()
        else:
            out["python_package_spec"] = self.runnable.to_dict()
        if self.disk_spec is not None:
            out["disk_spec"] = self.disk_spec.to_dict()
        if self.nfs_mounts:
            out["nfs_mounts"] = [m.to_dict() for m in self.nfs_mounts]
        return out

    def with_args(self, extra: Sequence[str]) -> WorkerPoolSpec:
        """A copy with `extra` appended to the args (see `merge_args` for `--flag=` overrides)."""
        runnable = self.runnable
        args = merge_args(runnable.args, str_tuple("args", extra))
        return self._with(dataclasses.replace(runnable, args=args))

    def with_env(self, env: Mapping[str, str]) -> WorkerPoolSpec:
        """A copy with `env` merged into the environment (its values win)."""
        runnable = self.runnable
        merged = {**runnable.env, **str_map("env", env)}
        return self._with(dataclasses.replace(runnable, env=merged))

    def _with(self, runnable: ContainerSpec | PythonPackageSpec) -> WorkerPoolSpec:
        if isinstance(runnable, ContainerSpec):
            return dataclasses.replace(self, container_spec=runnable)
        return dataclasses.replace(self, python_package_spec=runnable)
