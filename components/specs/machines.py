"""Machines, accelerators, reservations and boot disks of a worker pool."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vtp.components.specs._validate import (
    check_choice,
    check_int,
    check_pattern,
    check_str,
    str_tuple,
)
from vtp.errors import SpecError

#: `google.cloud.aiplatform_v1.types.AcceleratorType` names, without ACCELERATOR_TYPE_UNSPECIFIED
#: (leave `accelerator_type` unset instead) and without the retired ones below. A test keeps
#: this list equal to the installed enum.
ACCELERATOR_TYPES: tuple[str, ...] = (
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

#: Enum values Vertex no longer serves, with why.
RETIRED_ACCELERATOR_TYPES: dict[str, str] = {
    "NVIDIA_TESLA_K80": "reached end of support (https://cloud.google.com/compute/docs/eol/k80-eol)",
    "NVIDIA_TESLA_P100": (
        "reached end of support on 2026-09-15 "
        "(https://docs.cloud.google.com/compute/docs/eol/p100-eos)"
    ),
}

#: The GPU types among ACCELERATOR_TYPES (the rest are TPUs).
GPU_TYPES: tuple[str, ...] = tuple(t for t in ACCELERATOR_TYPES if t.startswith("NVIDIA_"))

# Which accelerators each machine type takes, from Vertex "Configure compute resources for
# custom training" (https://cloud.google.com/vertex-ai/docs/training/configure-compute, now
# served at https://docs.cloud.google.com/gemini-enterprise-agent-platform/machine-learning/
# training/configure-compute): its "Machine types", "GPUs" and "TPUs" sections and the table
# "Valid numbers of GPUs for each machine type", checked 2026-11-22. Machine types outside
# these tables (e2, n2, n2d, n4, c2, c3, m1 ...) take no accelerator.

#: Accelerator-optimized machine types come with their GPUs attached; Vertex training requires
#: `accelerator_type` and `accelerator_count` to name exactly those:
#: machine_type -> (accelerator_type, accelerator_count).
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
    **{
        f"g4-standard-{cpus}": ("NVIDIA_RTX_PRO_6000", n)
        for cpus, n in ((48, 1), (96, 2), (192, 4), (384, 8))
    },
}

# N1 machines take P4, T4, V100 (and formerly P100) GPUs; the valid counts depend on the
# machine's vCPUs and memory (e.g. a V100 backs at most 12 vCPUs, so n1-standard-32 needs 4).
# In the table's rows with three counts P100 is the missing column: Vertex notes that 4 P100
# give at most 64 vCPUs and 208 GB, which rules out every 64- and 96-vCPU machine but
# n1-highcpu-64 (57.6 GB).
_P4, _P100 = "NVIDIA_TESLA_P4", "NVIDIA_TESLA_P100"
_T4, _V100 = "NVIDIA_TESLA_T4", "NVIDIA_TESLA_V100"
_N1_UP_TO_8 = {_P4: (1, 2, 4), _P100: (1, 2, 4), _T4: (1, 2, 4), _V100: (1, 2, 4, 8)}
_N1_16 = {_P4: (1, 2, 4), _P100: (1, 2, 4), _T4: (1, 2, 4), _V100: (2, 4, 8)}
_N1_32 = {_P4: (2, 4), _P100: (2, 4), _T4: (2, 4), _V100: (4, 8)}
_N1_64 = {_P4: (4,), _T4: (4,), _V100: (8,)}

#: N1 machine types that take GPUs: machine_type -> {accelerator_type: valid counts}.
N1_GPU_COUNTS: dict[str, dict[str, tuple[int, ...]]] = {
    "n1-standard-4": _N1_UP_TO_8,
    "n1-standard-8": _N1_UP_TO_8,
    "n1-standard-16": _N1_16,
    "n1-standard-32": _N1_32,
    "n1-standard-64": _N1_64,
    "n1-standard-96": _N1_64,
    "n1-highmem-2": _N1_UP_TO_8,
    "n1-highmem-4": _N1_UP_TO_8,
    "n1-highmem-8": _N1_UP_TO_8,
    "n1-highmem-16": _N1_16,
    "n1-highmem-32": _N1_32,
    "n1-highmem-64": _N1_64,
    "n1-highmem-96": _N1_64,
    "n1-highcpu-16": _N1_16,
    "n1-highcpu-32": _N1_32,
    "n1-highcpu-64": {**_N1_64, _P100: (4,)},
    "n1-highcpu-96": _N1_64,
}
_N1_GPU_MACHINES = "n1-standard-4 to -96, n1-highmem-2 to -96 and n1-highcpu-16 to -96"

#: TPU VM machine types that take a `tpu_topology`: machine_type -> documented topologies
#: (TPU v5e, v6e and 7x). Their `accelerator_type` stays unset, except that ct5lp-hightpu
#: machines may name TPU_V5_LITEPOD with their chip count.
TPU_TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "ct5lp-hightpu-1t": ("1x1",),
    "ct5lp-hightpu-4t": ("2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
    "ct5lp-hightpu-8t": ("2x4",),
    "ct6e-standard-1t": ("1x1",),
    "ct6e-standard-4t": ("2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
    "ct6e-standard-8t": ("2x4",),
    "tpu7x-standard-4t": (
        "2x2x1",
        "2x2x2",
        "2x2x4",
        "2x4x4",
        "4x4x4",
        "4x4x8",
        "4x8x8",
        "8x8x8",
        "8x8x16",
    ),
}
#: The machine type of TPU v2 and v3 VMs (`accelerator_type` TPU_V2 or TPU_V3).
CLOUD_TPU = "cloud-tpu"

#: Families of fixed-size accelerator machines (`a2-highgpu-`, `ct5lp-hightpu-`...): other sizes
#: do not exist.
_FIXED_FAMILIES: dict[str, list[str]] = {}
for _machine in (*MACHINE_GPUS, *TPU_TOPOLOGIES):
    _FIXED_FAMILIES.setdefault(_machine.rsplit("-", 1)[0] + "-", []).append(_machine)
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
    """Machine type and accelerators of every replica of a pool.

    The accelerators must be ones the machine type takes on Vertex training (see the tables
    above): the GPUs an A2/A3/A4/G2/G4 machine comes with, a documented GPU count on N1,
    TPU_V2/TPU_V3 on `cloud-tpu`, and none on other machine types. TPU v5e/v6e/7x machines
    (`ct5lp-hightpu-4t`...) need a `tpu_topology` such as `"2x2"`.
    """

    machine_type: str = "n1-standard-4"
    accelerator_type: str | None = None
    accelerator_count: int = 0
    reservation_affinity: ReservationAffinity | None = None
    tpu_topology: str = ""

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
        if kind in RETIRED_ACCELERATOR_TYPES:
            raise SpecError(
                f"{root}.accelerator_type",
                kind,
                f"must not be a retired accelerator: {kind} {RETIRED_ACCELERATOR_TYPES[kind]}",
            )
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
        check_str(f"{root}.tpu_topology", self.tpu_topology)
        _check_fixed_size(machine)
        _check_accelerators(machine, kind, count)
        _check_topology(machine, self.tpu_topology)
        if self.reservation_affinity is not None and not isinstance(
            self.reservation_affinity, ReservationAffinity
        ):
            raise SpecError(
                f"{root}.reservation_affinity",
                self.reservation_affinity,
                "must be a ReservationAffinity or None",
            )

    @property
    def gpu_count(self) -> int:
        """NVIDIA GPUs per replica (0 for CPU and TPU machines)."""
        return self.accelerator_count if self.accelerator_type in GPU_TYPES else 0

    @property
    def is_tpu_vm(self) -> bool:
        """True for a TPU VM (`cloud-tpu`, `ct5lp-hightpu-*`, `ct6e-standard-*`...)."""
        return self.machine_type == CLOUD_TPU or self.machine_type in TPU_TOPOLOGIES

    def to_dict(self) -> dict[str, Any]:
        """The proto JSON dict (snake_case), unset fields omitted."""
        out: dict[str, Any] = {"machine_type": self.machine_type}
        if self.accelerator_type is not None:
            out["accelerator_type"] = self.accelerator_type
            out["accelerator_count"] = self.accelerator_count
        if self.tpu_topology:
            out["tpu_topology"] = self.tpu_topology
        if self.reservation_affinity is not None:
            out["reservation_affinity"] = self.reservation_affinity.to_dict()
        return out


_TYPE = "machine_spec.accelerator_type"
_COUNT = "machine_spec.accelerator_count"


def _check_fixed_size(machine: str) -> None:
    """A2/A3/A4/G2/G4 and TPU v5e/v6e/7x machines exist in the listed sizes only."""
    family = next((f for f in _FIXED_FAMILIES if machine.startswith(f)), None)
    if family is not None and machine not in _FIXED_FAMILIES[family]:
        sizes = ", ".join(_FIXED_FAMILIES[family])
        raise SpecError("machine_spec.machine_type", machine, f"must be one of {sizes}")


def _check_accelerators(machine: str, kind: str | None, count: int) -> None:
    """`kind` x `count` must be what Vertex training attaches to `machine`."""
    if machine in MACHINE_GPUS:
        gpu, n = MACHINE_GPUS[machine]
        if kind != gpu:
            raise SpecError(_TYPE, kind, f"must be {gpu} for machine_type {machine}")
        if count != n:
            raise SpecError(_COUNT, count, f"must be {n} for machine_type {machine}")
    elif machine in N1_GPU_COUNTS:
        counts = N1_GPU_COUNTS[machine]
        if kind is not None and kind not in counts:
            usable = [t for t in counts if t not in RETIRED_ACCELERATOR_TYPES]
            allowed = f"must be one of {', '.join(usable)} or unset for machine_type {machine}"
            raise SpecError(_TYPE, kind, allowed)
        if kind is not None and count not in counts[kind]:
            valid = ", ".join(map(str, counts[kind]))
            raise SpecError(_COUNT, count, f"must be one of {valid} for {kind} on {machine}")
    elif machine == CLOUD_TPU:
        if kind not in ("TPU_V2", "TPU_V3"):
            raise SpecError(_TYPE, kind, f"must be TPU_V2 or TPU_V3 for machine_type {machine}")
        pod = count % 32 == 0 if kind == "TPU_V2" else count >= 32
        if count != 8 and not pod:
            pods = "a multiple of 32" if kind == "TPU_V2" else "32 or more"
            allowed = f"must be 8 (one TPU) or {pods} (a TPU Pod) for {kind}"
            raise SpecError(_COUNT, count, allowed)
    elif machine.startswith("ct5lp-hightpu-"):
        if kind not in (None, "TPU_V5_LITEPOD"):
            raise SpecError(_TYPE, kind, f"must be TPU_V5_LITEPOD or unset for {machine}")
        chips = int(machine.rsplit("-", 1)[1].rstrip("t"))
        if kind is not None and count != chips:
            raise SpecError(_COUNT, count, f"must be {chips} (the TPU chips of {machine})")
    elif kind is not None:
        where = _machines_for(kind)
        raise SpecError(_TYPE, kind, f"must be unset for machine_type {machine} ({where})")


def _machines_for(kind: str) -> str:
    """Where Vertex training attaches `kind`, for error messages."""
    if kind in ("TPU_V2", "TPU_V3"):
        return f"{kind} needs machine_type {CLOUD_TPU}"
    if kind == "TPU_V5_LITEPOD":
        return f"{kind} needs a ct5lp-hightpu machine type"
    if any(kind in counts for counts in N1_GPU_COUNTS.values()):
        return f"{kind} attaches to N1 machine types: {_N1_GPU_MACHINES}"
    families: list[str] = []
    for machine, (gpu, _) in MACHINE_GPUS.items():
        family = machine.rsplit("-", 1)[0]
        name = f"{family}-*" if len(_FIXED_FAMILIES[family + "-"]) > 1 else machine
        if gpu == kind and name not in families:
            families.append(name)
    if families:
        return f"{kind} comes with machine types {', '.join(families)}"
    return f"Vertex training documents no machine type for {kind}"


def _check_topology(machine: str, topology: str) -> None:
    """TPU v5e/v6e/7x machines need one of their documented topologies; others take none."""
    field = "machine_spec.tpu_topology"
    if machine in TPU_TOPOLOGIES:
        allowed = TPU_TOPOLOGIES[machine]
        if topology not in allowed:
            raise SpecError(field, topology, f"must be one of {', '.join(allowed)} for {machine}")
    elif topology:
        raise SpecError(
            field, topology, f"must be empty for machine_type {machine} (not a TPU v5e/v6e/7x VM)"
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
