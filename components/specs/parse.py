"""Worker pool specs back from JSON dicts (snake_case or camelCase, ints maybe as floats).

KFP hands list elements typed int to a component as floats (`1.0`) and proto JSON writes int64
as strings (`"1"`): both are accepted when integral. Keys the builders do not model (e.g.
`lustre_mounts`, `machine_spec.gpu_partition_size`) are refused, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vtp.components.specs._validate import json_fields, json_int, json_list, rebased
from vtp.components.specs.containers import ContainerSpec, PythonPackageSpec
from vtp.components.specs.machines import DiskSpec, MachineSpec, ReservationAffinity
from vtp.components.specs.worker_pool import NfsMount, WorkerPoolSpec
from vtp.errors import SpecError

_POOL_FIELDS = (
    "machine_spec",
    "replica_count",
    "container_spec",
    "python_package_spec",
    "disk_spec",
    "nfs_mounts",
)


def _env(path: str, value: object) -> dict[str, str]:
    env: dict[str, str] = {}
    for i, item in enumerate(json_list(path, value)):
        var = json_fields(item, f"{path}[{i}]", ("name", "value"), required=("name",))
        if var["name"] in env:
            raise SpecError(f"{path}[{i}].name", var["name"], "must not repeat an earlier name")
        env[var["name"]] = var.get("value", "")
    return env


def _container(value: object, path: str) -> ContainerSpec:
    d = json_fields(value, path, ("image_uri", "command", "args", "env"), required=("image_uri",))
    if "env" in d:
        d["env"] = _env(f"{path}.env", d["env"])
    with rebased("container_spec", path):
        return ContainerSpec(**d)


def _python_package(value: object, path: str) -> PythonPackageSpec:
    names = ("executor_image_uri", "package_uris", "python_module", "args", "env")
    d = json_fields(value, path, names, required=names[:3])
    if "env" in d:
        d["env"] = _env(f"{path}.env", d["env"])
    with rebased("python_package_spec", path):
        return PythonPackageSpec(**d)


def _reservation(value: object, path: str) -> ReservationAffinity:
    names = ("reservation_affinity_type", "key", "values")
    d = json_fields(value, path, names, required=names[:1])
    with rebased("reservation_affinity", path):
        return ReservationAffinity(**d)


def _machine(value: object, path: str) -> MachineSpec:
    names = (
        "machine_type",
        "accelerator_type",
        "accelerator_count",
        "reservation_affinity",
        "tpu_topology",
    )
    d = json_fields(value, path, names, required=names[:1])
    if d.get("accelerator_type") == "ACCELERATOR_TYPE_UNSPECIFIED":
        d["accelerator_type"] = None
    if "accelerator_count" in d:
        d["accelerator_count"] = json_int(f"{path}.accelerator_count", d["accelerator_count"])
    if "reservation_affinity" in d:
        d["reservation_affinity"] = _reservation(
            d["reservation_affinity"], f"{path}.reservation_affinity"
        )
    with rebased("machine_spec", path):
        return MachineSpec(**d)


def _disk(value: object, path: str) -> DiskSpec:
    d = json_fields(value, path, ("boot_disk_type", "boot_disk_size_gb"))
    if "boot_disk_size_gb" in d:
        d["boot_disk_size_gb"] = json_int(f"{path}.boot_disk_size_gb", d["boot_disk_size_gb"])
    with rebased("disk_spec", path):
        return DiskSpec(**d)


def _nfs(value: object, path: str) -> NfsMount:
    names = ("server", "path", "mount_point")
    d = json_fields(value, path, names, required=names)
    with rebased("nfs_mount", path):
        return NfsMount(**d)


def worker_pool_from_dict(d: Mapping[str, Any], index: int) -> WorkerPoolSpec | None:
    """One entry of `worker_pool_specs` as a `WorkerPoolSpec`; `None` for an unused pool `{}`.

    `replica_count` and `machine_spec.machine_type` are required.
    """
    path = f"worker_pool_specs[{index}]"
    if isinstance(d, Mapping) and not d:
        return None
    f = json_fields(d, path, _POOL_FIELDS, required=("machine_spec", "replica_count"))
    kwargs: dict[str, Any] = {
        "machine_spec": _machine(f["machine_spec"], f"{path}.machine_spec"),
        "replica_count": json_int(f"{path}.replica_count", f["replica_count"]),
    }
    if "container_spec" in f:
        kwargs["container_spec"] = _container(f["container_spec"], f"{path}.container_spec")
    if "python_package_spec" in f:
        kwargs["python_package_spec"] = _python_package(
            f["python_package_spec"], f"{path}.python_package_spec"
        )
    if "disk_spec" in f:
        kwargs["disk_spec"] = _disk(f["disk_spec"], f"{path}.disk_spec")
    if "nfs_mounts" in f:
        mounts = json_list(f"{path}.nfs_mounts", f["nfs_mounts"])
        kwargs["nfs_mounts"] = [_nfs(m, f"{path}.nfs_mounts[{i}]") for i, m in enumerate(mounts)]
    with rebased("worker_pool_spec", path):
        return WorkerPoolSpec(**kwargs)


def parse_worker_pool_specs(specs: Sequence[Mapping[str, Any]]) -> list[WorkerPoolSpec | None]:
    """All pools, `None` for unused ones, with the role rules: 1 to 4 pools, the primary pool
    set and with replica_count 1."""
    pools = json_list("worker_pool_specs", specs)
    if not 1 <= len(pools) <= 4:
        raise SpecError("worker_pool_specs", f"{len(pools)} pools", "must hold 1 to 4 pools")
    parsed = [worker_pool_from_dict(pool, i) for i, pool in enumerate(pools)]
    primary = parsed[0]
    if primary is None:
        raise SpecError("worker_pool_specs[0]", {}, "must be set (the primary pool)")
    if primary.replica_count != 1:
        raise SpecError(
            "worker_pool_specs[0].replica_count",
            primary.replica_count,
            "must be 1 (the primary pool)",
        )
    return parsed


def validate_worker_pool_specs(specs: Sequence[Mapping[str, Any]]) -> None:
    """Check a raw `worker_pool_specs` list: each pool against `aiplatform_v1.WorkerPoolSpec`,
    then the builders' rules (`parse_worker_pool_specs`), then the distributed layout rules
    (`components.specs.distributed.check_layout`: Reduction Server, TPU VMs).

    Raises:
        SpecError: naming the first field refused.
    """
    from vtp.components.specs._proto import check_message
    from vtp.components.specs.distributed import check_layout

    for index, pool in enumerate(json_list("worker_pool_specs", specs)):
        if not isinstance(pool, Mapping):
            raise SpecError(f"worker_pool_specs[{index}]", pool, "must be a mapping")
        check_message("WorkerPoolSpec", pool, f"worker_pool_specs[{index}]")
    check_layout(parse_worker_pool_specs(specs))
