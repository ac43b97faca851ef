"""Typed payload builders for Vertex custom jobs.

They produce the exact dicts Vertex receives (`worker_pool_specs`, the `CustomJob` resource,
the inputs of GCPC's `CustomTrainingJobOp`) and refuse what Vertex would refuse, with a
`SpecError` naming the field, the value and what is allowed. `CustomJobSpec` is also parsed into
`google.cloud.aiplatform_v1.CustomJob` at construction; that package is imported only then.
"""

from components.specs.containers import ContainerSpec, PythonPackageSpec
from components.specs.custom_job import ROLES, CustomJobSpec
from components.specs.machines import (
    ACCELERATOR_TYPES,
    DISK_TYPES,
    MACHINE_GPUS,
    DiskSpec,
    MachineSpec,
    ReservationAffinity,
)
from components.specs.parse import (
    parse_worker_pool_specs,
    validate_worker_pool_specs,
    worker_pool_from_dict,
)
from components.specs.scheduling import STRATEGIES, Scheduling
from components.specs.worker_pool import NfsMount, WorkerPoolSpec

__all__ = [
    "ACCELERATOR_TYPES",
    "DISK_TYPES",
    "MACHINE_GPUS",
    "ROLES",
    "STRATEGIES",
    "ContainerSpec",
    "CustomJobSpec",
    "DiskSpec",
    "MachineSpec",
    "NfsMount",
    "PythonPackageSpec",
    "ReservationAffinity",
    "Scheduling",
    "WorkerPoolSpec",
    "parse_worker_pool_specs",
    "validate_worker_pool_specs",
    "worker_pool_from_dict",
]
