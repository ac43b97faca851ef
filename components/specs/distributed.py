"""Distributed layouts of a custom job: workers, parameter servers, Reduction Server, evaluators.

Vertex gives each pool its role by position in `worker_pool_specs` ("Distributed training",
https://cloud.google.com/vertex-ai/docs/training/distributed-training, now served at
https://docs.cloud.google.com/gemini-enterprise-agent-platform/machine-learning/training/
distributed-training; checked 2026-11-22):
`[0]` the primary (chief), exactly one replica; `[1]` workers; `[2]` parameter servers or the
Reduction Server; `[3]` evaluators. An unused pool before a used one is `{}`.

The builders take the primary pool and, for each other role, either a number of replicas
(copies of the primary; for reducers, of `reduction_server_pool()`) or a `WorkerPoolSpec` of
its own. They return a `CustomJobSpec`, so `.worker_pool_specs()`, `.op_inputs()` and
`.to_custom_job()` work as for any job::

    from vtp.components.specs import ContainerSpec, MachineSpec, WorkerPoolSpec
    from vtp.components.specs.distributed import multi_worker_job, reduction_server_job

    gpu = MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 1)
    primary = WorkerPoolSpec(gpu, ContainerSpec(IMAGE, args=["--epochs=3"]))
    job = multi_worker_job(primary, workers=2)  # chief + 2 workers like it
    cpu_workers = WorkerPoolSpec(
        MachineSpec("n1-standard-4"), ContainerSpec(IMAGE), replica_count=3
    )
    job = multi_worker_job(primary, workers=cpu_workers)
    job = reduction_server_job(primary, workers=3, reducers=4)  # reducers on n1-highcpu-16
    job = parameter_server_job(primary, workers=2, parameter_servers=1, evaluators=1)
    CustomTrainingJobOp(project=..., location=..., display_name=..., **job.op_inputs())

`validate_layout` runs the same rules on raw `worker_pool_specs` dicts (a compiled payload,
a pipeline parameter); `components.specs.validate_worker_pool_specs` applies them too.

GCPC's `CustomTrainingJobOp` removes empty fields before calling Vertex, `{}` pools included,
so a pool after an unused one moves up a role: evaluators without parameter servers would
run as parameter servers, or as workers when there are none. `check_launcher_layout` refuses
such payloads for that op; the Vertex API (`CustomJobSpec.to_custom_job`) takes them as they
are.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from vtp.components.specs._validate import check_int, json_list
from vtp.components.specs.containers import ContainerSpec
from vtp.components.specs.custom_job import ROLES, CustomJobSpec
from vtp.components.specs.machines import MachineSpec
from vtp.components.specs.parse import parse_worker_pool_specs
from vtp.components.specs.worker_pool import WorkerPoolSpec
from vtp.errors import SpecError

#: Google's Reduction Server image, in its three multi-regions ("Train using Reduction Server").
REDUCTION_SERVER_IMAGES: tuple[str, ...] = tuple(
    f"{region}-docker.pkg.dev/vertex-ai-restricted/training/reductionserver:latest"
    for region in ("us", "europe", "asia")
)
REDUCTION_SERVER_IMAGE = REDUCTION_SERVER_IMAGES[0]
#: The machine type Vertex recommends for reducers (high bandwidth for its resources; no GPU).
REDUCTION_SERVER_MACHINE = "n1-highcpu-16"

_REDUCTION_SERVER = re.compile(
    r"(us|europe|asia)-docker\.pkg\.dev/vertex-ai-restricted/training/reductionserver"
    r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})?"
)

#: A role given as a number of replicas (0: unused) or as a pool of its own.
Replicas = int | WorkerPoolSpec

_NAMES = ("the primary", "workers", "parameter servers or the Reduction Server", "evaluators")


def is_reduction_server_image(image_uri: str) -> bool:
    """True for Google's Reduction Server image (any of its registries, any tag or digest)."""
    return bool(_REDUCTION_SERVER.fullmatch(image_uri))


def reduction_server_pool(
    replica_count: int = 1,
    *,
    machine_type: str = REDUCTION_SERVER_MACHINE,
    image_uri: str = REDUCTION_SERVER_IMAGE,
) -> WorkerPoolSpec:
    """The reducers' pool: Google's image on CPU machines.

    Size it so the reducers' total network bandwidth matches the primary's and workers' (e.g.
    5 nodes of 8 V100 at 100 Gbps need 16 n1-highcpu-16 reducers at 32 Gbps).
    """
    field = "worker_pool_specs[2] (reducers)"
    check_int(f"{field}.replica_count", replica_count, minimum=1)
    if not isinstance(image_uri, str) or not is_reduction_server_image(image_uri):
        allowed = f"must be a Reduction Server image: {', '.join(REDUCTION_SERVER_IMAGES)}"
        raise SpecError(f"{field}.container_spec.image_uri", image_uri, allowed)
    return WorkerPoolSpec(
        MachineSpec(machine_type), ContainerSpec(image_uri), replica_count=replica_count
    )


def distributed_job(
    primary: WorkerPoolSpec,
    *,
    workers: Replicas = 0,
    parameter_servers: Replicas = 0,
    reducers: Replicas = 0,
    evaluators: Replicas = 0,
    **job_fields: Any,
) -> CustomJobSpec:
    """Any layout: pool 2 holds `parameter_servers` or `reducers` (a Reduction Server).

    Args:
        primary: pool 0, one replica (the chief).
        workers: pool 1: replicas like the primary, or a pool of their own.
        parameter_servers: pool 2: replicas like the primary, or a pool of their own.
        reducers: pool 2 as a Reduction Server: `reduction_server_pool(n)`, or such a pool.
        evaluators: pool 3: replicas like the primary, or a pool of their own.
        **job_fields: other `CustomJobSpec` fields (scheduling, base_output_directory...).

    Raises:
        SpecError: for a layout Vertex refuses (see `check_layout`), or both parameter servers
            and reducers.
    """
    if not isinstance(primary, WorkerPoolSpec):
        raise SpecError("worker_pool_specs[0] (primary)", primary, "must be a WorkerPoolSpec")
    pools = {
        "workers": _role(1, "workers", workers, primary),
        "parameter_servers": _role(2, "parameter servers", parameter_servers, primary),
        "evaluators": _role(3, "evaluators", evaluators, primary),
    }
    reduction = _reducers(reducers)
    if reduction is not None:
        if pools["parameter_servers"] is not None:
            raise SpecError(
                "worker_pool_specs[2]",
                "parameter servers and reducers",
                "must hold parameter servers or a Reduction Server, not both",
            )
        pools["parameter_servers"] = reduction
    elif pools["parameter_servers"] is not None:
        image = _image(pools["parameter_servers"])
        if is_reduction_server_image(image):
            raise SpecError(
                "worker_pool_specs[2] (parameter servers)",
                image,
                "must not run the Reduction Server image (pass it as reducers)",
            )
    job = CustomJobSpec(primary=primary, **pools, **job_fields)
    check_layout([getattr(job, role) for role in ROLES])
    return job


def multi_worker_job(
    primary: WorkerPoolSpec,
    workers: Replicas,
    *,
    evaluators: Replicas = 0,
    **job_fields: Any,
) -> CustomJobSpec:
    """Chief + workers for all-reduce training (MultiWorkerMirroredStrategy, PyTorch DDP,
    Horovod); at least one worker."""
    _require(1, "workers", workers)
    return distributed_job(primary, workers=workers, evaluators=evaluators, **job_fields)


def parameter_server_job(
    primary: WorkerPoolSpec,
    workers: Replicas,
    parameter_servers: Replicas,
    *,
    evaluators: Replicas = 0,
    **job_fields: Any,
) -> CustomJobSpec:
    """Chief + workers + parameter servers for TensorFlow's ParameterServerStrategy.

    Vertex also takes parameter servers without workers, but TensorFlow refuses a cluster
    without a worker or without a ps ("There must be at least one worker."), so both are
    required here; use `distributed_job` for other frameworks.
    """
    _require(1, "workers", workers)
    _require(2, "parameter servers", parameter_servers)
    return distributed_job(
        primary,
        workers=workers,
        parameter_servers=parameter_servers,
        evaluators=evaluators,
        **job_fields,
    )


def reduction_server_job(
    primary: WorkerPoolSpec,
    workers: Replicas,
    reducers: Replicas,
    *,
    evaluators: Replicas = 0,
    **job_fields: Any,
) -> CustomJobSpec:
    """Chief + GPU workers + a Reduction Server (NCCL all-reduce through reducers).

    The primary's and workers' containers must support it: a prebuilt TensorFlow (2.3+) or
    PyTorch (1.4+) training image, or NCCL 2.7+ with the `google-reduction-server` package.
    """
    _require(2, "reducers", reducers)
    return distributed_job(
        primary, workers=workers, reducers=reducers, evaluators=evaluators, **job_fields
    )


def check_layout(pools: Sequence[WorkerPoolSpec | None]) -> None:
    """Role rules on pools in `worker_pool_specs` order (`None` for unused ones), as
    `parse_worker_pool_specs` returns them.

    - The Reduction Server image runs only in pool 2, as `container_spec.image_uri`; there
      it has no accelerators, and needs at least one worker, and NVIDIA GPUs on the primary
      and the workers.
    - A TPU VM is the only pool of its job ("Configure compute resources", TPUs).

    Raises:
        SpecError: naming the first pool or field that breaks a rule.
    """
    pools = list(pools)
    for index, pool in enumerate(pools):
        if pool is None:
            continue
        path = f"worker_pool_specs[{index}]"
        if pool.python_package_spec is not None:
            image = pool.python_package_spec.executor_image_uri
            if is_reduction_server_image(image):
                raise SpecError(
                    f"{path}.python_package_spec.executor_image_uri",
                    image,
                    "must not be the Reduction Server image (it runs as "
                    "worker_pool_specs[2].container_spec.image_uri)",
                )
        elif index != 2 and is_reduction_server_image(pool.container_spec.image_uri):
            raise SpecError(
                f"{path}.container_spec.image_uri",
                pool.container_spec.image_uri,
                f"must not be the Reduction Server image in pool {index} ({_NAMES[index]}); "
                "it runs in worker_pool_specs[2]",
            )
        if index and pool.machine_spec.is_tpu_vm:
            raise SpecError(
                f"{path}.machine_spec.machine_type",
                pool.machine_spec.machine_type,
                "must not be a TPU VM outside the primary pool (a TPU job has one pool)",
            )
    used = [i for i, pool in enumerate(pools) if pool is not None]
    if used and used[0] == 0 and pools[0].machine_spec.is_tpu_vm and len(used) > 1:
        raise SpecError(
            "worker_pool_specs",
            f"pools {used}",
            "must hold only the primary pool when it is a TPU VM (one pool, one replica)",
        )
    if len(pools) > 2 and pools[2] is not None and _serves_reduction(pools[2]):
        _check_reduction_server(pools)


def validate_layout(worker_pool_specs: Sequence[Mapping[str, Any]]) -> None:
    """`check_layout` on raw `worker_pool_specs` dicts (snake_case or camelCase, `{}` for
    unused pools), after `parse_worker_pool_specs` (pool fields, machines, accelerators).

    Raises:
        SpecError: naming the first field refused.
    """
    check_layout(parse_worker_pool_specs(worker_pool_specs))


def check_launcher_layout(worker_pool_specs: Sequence[Mapping[str, Any]]) -> None:
    """Refuse `{}` pools before a used pool in a payload for GCPC's `CustomTrainingJobOp`
    (or `HyperparameterTuningJobRunOp`): their launcher removes empty pools, so the later
    pools would move up a role.

    Raises:
        SpecError: naming the first unused pool that would be removed.
    """
    pools = json_list("worker_pool_specs", worker_pool_specs)
    empty = [i for i, pool in enumerate(pools) if isinstance(pool, Mapping) and not pool]
    used = [i for i in range(len(pools)) if i not in empty]
    for later in used:
        gaps = [i for i in empty if i < later]
        if gaps:
            raise SpecError(
                f"worker_pool_specs[{gaps[0]}]",
                {},
                f"must not be an unused pool before worker_pool_specs[{later}] "
                f"({_NAMES[later]}) with GCPC's CustomTrainingJobOp: its launcher removes "
                f"empty pools, so pool {later} would run as {_NAMES[later - len(gaps)]}",
            )


def _role(index: int, name: str, value: object, primary: WorkerPoolSpec) -> WorkerPoolSpec | None:
    if isinstance(value, WorkerPoolSpec):
        return value
    count = check_int(f"worker_pool_specs[{index}] ({name})", value, minimum=0)
    return dataclasses.replace(primary, replica_count=count) if count else None


def _reducers(value: object) -> WorkerPoolSpec | None:
    field = "worker_pool_specs[2] (reducers)"
    if isinstance(value, WorkerPoolSpec):
        if not _serves_reduction(value):
            allowed = f"must run a Reduction Server image, such as {REDUCTION_SERVER_IMAGE}"
            raise SpecError(f"{field}.container_spec.image_uri", _image(value), allowed)
        return value
    count = check_int(field, value, minimum=0)
    return reduction_server_pool(count) if count else None


def _require(index: int, name: str, value: object) -> None:
    if isinstance(value, WorkerPoolSpec):
        return
    check_int(f"worker_pool_specs[{index}] ({name})", value, minimum=0)
    if value == 0:
        raise SpecError(f"worker_pool_specs[{index}] ({name})", value, "must be at least 1")


def _image(pool: WorkerPoolSpec) -> str:
    if pool.container_spec is not None:
        return pool.container_spec.image_uri
    return pool.python_package_spec.executor_image_uri  # type: ignore[union-attr]


def _serves_reduction(pool: WorkerPoolSpec) -> bool:
    return pool.container_spec is not None and is_reduction_server_image(
        pool.container_spec.image_uri
    )


def _check_reduction_server(pools: list[WorkerPoolSpec | None]) -> None:
    reducers = pools[2]
    assert reducers is not None
    kind = reducers.machine_spec.accelerator_type
    if kind is not None:
        raise SpecError(
            "worker_pool_specs[2].machine_spec.accelerator_type",
            kind,
            "must be unset: Reduction Server nodes use no GPUs",
        )
    if pools[1] is None:
        raise SpecError(
            "worker_pool_specs[1]",
            {},
            "must hold workers with a Reduction Server (it serves multi-host all-reduce)",
        )
    for index in (0, 1):
        machine = pools[index].machine_spec  # type: ignore[union-attr]
        if not machine.gpu_count:
            raise SpecError(
                f"worker_pool_specs[{index}].machine_spec.accelerator_type",
                machine.accelerator_type,
                "must be an NVIDIA GPU with a Reduction Server (NCCL all-reduce between GPU "
                "workers)",
            )
