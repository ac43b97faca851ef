"""Typed payload builders for Vertex custom jobs.

They produce the exact dicts Vertex receives (`worker_pool_specs`, the `CustomJob` resource,
the inputs of GCPC's `CustomTrainingJobOp`) and refuse what Vertex would refuse, with a
`SpecError` naming the field, the value and what is allowed. `CustomJobSpec` is also parsed into
`google.cloud.aiplatform_v1.CustomJob` at construction; that package is imported only then.
`components.specs.distributed` builds the distributed layouts (workers, parameter servers,
Reduction Server, evaluators) and checks their rules on raw payloads.
"""

from vtp.components.specs.containers import ContainerSpec, PythonPackageSpec
from vtp.components.specs.custom_job import ROLES, CustomJobSpec
from vtp.components.specs.distributed import (
    REDUCTION_SERVER_IMAGE,
    REDUCTION_SERVER_IMAGES,
    REDUCTION_SERVER_MACHINE,
    check_launcher_layout,
    check_layout,
    distributed_job,
    is_reduction_server_image,
    multi_worker_job,
    parameter_server_job,
    reduction_server_job,
    reduction_server_pool,
    validate_layout,
)
from vtp.components.specs.machines import (
    ACCELERATOR_TYPES,
    DISK_TYPES,
    GPU_TYPES,
    MACHINE_GPUS,
    N1_GPU_COUNTS,
    TPU_TOPOLOGIES,
    DiskSpec,
    MachineSpec,
    ReservationAffinity,
)
from vtp.components.specs.parse import (
    parse_worker_pool_specs,
    validate_worker_pool_specs,
    worker_pool_from_dict,
)
from vtp.components.specs.scheduling import STRATEGIES, Scheduling
from vtp.components.specs.worker_pool import NfsMount, WorkerPoolSpec

__all__ = [
    "ACCELERATOR_TYPES",
    "DISK_TYPES",
    "GPU_TYPES",
    "MACHINE_GPUS",
    "N1_GPU_COUNTS",
    "REDUCTION_SERVER_IMAGE",
    "REDUCTION_SERVER_IMAGES",
    "REDUCTION_SERVER_MACHINE",
    "ROLES",
    "STRATEGIES",
    "TPU_TOPOLOGIES",
    "ContainerSpec",
    "CustomJobSpec",
    "DiskSpec",
    "MachineSpec",
    "NfsMount",
    "PythonPackageSpec",
    "ReservationAffinity",
    "Scheduling",
    "WorkerPoolSpec",
    "check_launcher_layout",
    "check_layout",
    "distributed_job",
    "is_reduction_server_image",
    "multi_worker_job",
    "parameter_server_job",
    "parse_worker_pool_specs",
    "reduction_server_job",
    "reduction_server_pool",
    "validate_layout",
    "validate_worker_pool_specs",
    "worker_pool_from_dict",
]
