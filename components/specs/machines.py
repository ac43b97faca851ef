"""Machines, accelerators, reservations and boot disks of a worker pool."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.errors import SpecError
from components.specs._validate import (
    check_choice,
    check_int,
    check_pattern,
    check_str,
    str_tuple,
)

#: `google.cloud.aiplatform_v1.types.AcceleratorType` names, without ACCELERATOR_TYPE_UNSPECIFIED
#: (leave `accelerator_type` unset instead) and without the retired ones below. A test keeps
#: this list equal to the installed enum.
ACCELERATOR_TYPES: tuple[str, ...] = (
    "NVIDIA_TESLA_P100",
    "NVIDIA_TESLA_V100",
    "NVIDIA_TESLA_P4",
    "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_A100",
    "NVIDIA_A100_80GB",
    "NVIDIA_L4",
    "NVIDIA_H100_80GB",
    "NVIDIA_H100_MEGA_80GB",
    "NVIDIA_H200_141GB",
    "NVIDIA_B200",
    "NVIDIA_GB200",
    "NVIDIA_RTX_PRO_6000",
    "TPU_V2",
    "TPU_V3",
    "TPU_V4_POD",
    "TPU_V5_LITEPOD",
)

#: Enum values Vertex no longer serves (the K80 reached end of support).
RETIRED_ACCELERATOR_TYPES: tuple[str, ...] = ("NVIDIA_TESLA_K80",)

#: Accelerator-optimized machine types come with their GPUs attached; Vertex training requires
#: `accelerator_type` and `accelerator_count` to name exactly those (Vertex "Configure compute
#: resources for custom training"): machine_type -> (accelerator_type, accelerator_count).
MACHINE_GPUS: dict[str, tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("NVIDIA_TESLA_A100", 16),
    **{f"a2-ultragpu-{n}g": ("NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": ("NVIDIA_H100_80GB", n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": ("NVIDIA_H100_MEGA_80GB", 8),
    "a3-ultragpu-8g": ("NVIDIA_H200_141GB", 8),
    "a4-highgpu-8g": ("NVIDIA_B200", 8),
    "a4x-highgpu-4g": ("NVIDIA_GB200", 4),
    **{
        f"g2-standard-{cpus}": ("NVIDIA_L4", n)
        for cpus, n in ((4, 1), (8, 1), (12, 1), (16, 1), (24, 2), (32, 1), (48, 4), (96, 8))
    },
}

#: Families of MACHINE_GPUS (`a2-highgpu-`, `g2-standard-`...): other sizes do not exist.
_GPU_FAMILIES: dict[str, list[str]] = {}
for _machine in MACHINE_GPUS:
    _GPU_FAMILIES.setdefault(_machine.rsplit("-", 1)[0] + "-", []).append(_machine)
del _machine

RESERVATION_AFFINITY_TYPES: tuple[str, ...] = (
    "ANY_RESERVATION",
    "NO_RESERVATION",
    "SPECIFIC_RESERVATION",
)

#: `DiskSpec.boot_disk_type` values the proto documents.
DISK_TYPES: tuple[str, ...] = ("pd-ssd", "pd-standard", "hyperdisk-balanced")
#: Boot disk size range in GB (aiplatform SDK docs: "within the range of [100, 64000]").
DISK_SIZE_GB = (100, 64000)

_MACHINE_TYPE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass(frozen=True)
class ReservationAffinity:
    """How a pool consumes Compute Engine reservations.

    `SPECIFIC_RESERVATION` needs `key` (e.g. `compute.googleapis.com/reservation-name`) and
    `values`; the other types take neither.
    """

    reservation_affinity_type: str = "ANY_RESERVATION"
    key: str = ""
    values: Sequence[str] = ()

    def __post_init__(self) -> None:
        root = "reservation_affinity"
        kind = check_choice(
            f"{root}.reservation_affinity_type",
            self.reservation_affinity_type,
            RESERVATION_AFFINITY_TYPES,
        )
        check_str(f"{root}.key", self.key)
        object.__setattr__(self, "values", str_tuple(f"{root}.values", self.values))
        if kind == "SPECIFIC_RESERVATION":
            if not self.key:
                raise SpecError(f"{root}.key", self.key, "must be set for SPECIFIC_RESERVATION")
            if not self.values:
                raise SpecError(
                    f"{root}.values", list(self.values), "must be set for SPECIFIC_RESERVATION"
                )
        elif self.key or self.values:
            field = f"{root}.key" if self.key else f"{root}.values"
            value = self.key or list(self.values)
            raise SpecError(field, value, f"must be empty unless SPECIFIC_RESERVATION ({kind})")

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict (snake_case)."""
        out: dict[str, Any] = {"reservation_affinity_type": self.reservation_affinity_type}
        if self.key:
            out["key"] = self.key
        if self.values:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class MachineSpec:
    """Machine type and accelerators of every replica of a pool."""

    machine_type: str = "n1-standard-4"
    accelerator_type: str | None = None
    accelerator_count: int = 0
    reservation_affinity: ReservationAffinity | None = None

    def __post_init__(self) -> None:
        root = "machine_spec"
        machine = check_pattern(
            f"{root}.machine_type",
            check_str(f"{root}.machine_type", self.machine_type, required=True),
            _MACHINE_TYPE,
            "must be a Compute Engine machine type such as n1-standard-4",
        )
        if self.accelerator_type == "":
            object.__setattr__(self, "accelerator_type", None)
        kind = self.accelerator_type
        if kind is not None:
            check_choice(f"{root}.accelerator_type", kind, ACCELERATOR_TYPES)
        count = check_int(f"{root}.accelerator_count", self.accelerator_count)
        if kind is None and count:
            raise SpecError(
                f"{root}.accelerator_count", count, "must be 0 when accelerator_type is not set"
            )
        if kind is not None and not count:
            raise SpecError(
                f"{root}.accelerator_count",
                count,
                f"must be >= 1 when accelerator_type is set ({kind})",
            )
        _check_attached_gpus(machine, kind, count)
        if self.reservation_affinity is not None and not isinstance(
            self.reservation_affinity, ReservationAffinity
        ):
            raise SpecError(
                f"{root}.reservation_affinity",
                self.reservation_affinity,
                "must be a ReservationAffinity or None",
            )

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict (snake_case), unset fields omitted."""
        out: dict[str, Any] = {"machine_type": self.machine_type}
        if self.accelerator_type is not None:
            out["accelerator_type"] = self.accelerator_type
            out["accelerator_count"] = self.accelerator_count
        if self.reservation_affinity is not None:
            out["reservation_affinity"] = self.reservation_affinity.to_dict()
        return out


def _check_attached_gpus(machine: str, kind: str | None, count: int) -> None:
    """Accelerator-optimized machines must name exactly the GPUs they come with."""
    family = next((f for f in _GPU_FAMILIES if machine.startswith(f)), None)
    if family is None:
        return
    if machine not in MACHINE_GPUS:
        sizes = ", ".join(_GPU_FAMILIES[family])
        raise SpecError("machine_spec.machine_type", machine, f"must be one of {sizes}")
    gpu, n = MACHINE_GPUS[machine]
    if kind != gpu:
        raise SpecError(
            "machine_spec.accelerator_type", kind, f"must be {gpu} for machine_type {machine}"
        )
    if count != n:
        raise SpecError(
            "machine_spec.accelerator_count", count, f"must be {n} for machine_type {machine}"
        )


@dataclass(frozen=True)
class DiskSpec:
    """Boot disk of every replica of a pool."""

    boot_disk_type: str = "pd-ssd"
    boot_disk_size_gb: int = 100

    def __post_init__(self) -> None:
        check_choice("disk_spec.boot_disk_type", self.boot_disk_type, DISK_TYPES)
        check_int("disk_spec.boot_disk_size_gb", self.boot_disk_size_gb, *DISK_SIZE_GB)

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict (snake_case)."""
        return {"boot_disk_type": self.boot_disk_type, "boot_disk_size_gb": self.boot_disk_size_gb}
