"""Component: the worker pools of a data-parallel training job, with its trainer and data.

A primary and `worker_count` workers run the same trainer (by default the distributed example
trainer image, whose ENTRYPOINT is `python -m trainer.distributed.task`), optionally with a
Reduction Server pool for GPU workers on Vertex. The pools are built with the layout builders
of `components.specs.distributed`, so a layout Vertex would refuse fails here, naming the field.
"""

from collections.abc import Mapping
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input

from vtp.components._component import vtp_component
from vtp.components.specs import (
    REDUCTION_SERVER_MACHINE,
    CustomJobSpec,
    MachineSpec,
    Scheduling,
    WorkerPoolSpec,
    multi_worker_job,
    reduction_server_job,
    reduction_server_pool,
)
from vtp.components.training.trainer import Trainer
from vtp.errors import SpecError


def distributed_training_job(
    *,
    trainer: Trainer,
    machine_type: str,
    worker_count: int,
    worker_machine_type: str = "",
    accelerator_type: str = "",
    accelerator_count: int = 0,
    reduction_server_count: int = 0,
    reduction_server_machine_type: str = REDUCTION_SERVER_MACHINE,
    hyperparameters: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    base_output_directory: str = "",
    timeout: str = "86400s",
) -> CustomJobSpec:
    """The primary + workers (+ Reduction Server) custom job, validated.

    Args:
        trainer: What the primary and the workers run (an image or a Python package).
        machine_type: Machine of the primary (and of the workers, unless `worker_machine_type`).
        worker_count: Workers besides the primary, at least 1 (`worker_pool_specs[1]`).
        worker_machine_type: Machine of the workers; empty: `machine_type`.
        accelerator_type: GPU of every primary and worker replica, empty for none.
        accelerator_count: GPUs per primary and worker replica.
        reduction_server_count: Reduction Server replicas (`worker_pool_specs[2]`), 0 for none;
            Vertex requires GPU workers for it.
        reduction_server_machine_type: Machine of the Reduction Server replicas.
        hyperparameters: `--<name>=<value>` arguments after the trainer's own.
        env: Environment of the primary and the workers.
        base_output_directory: `gs://` directory of `AIP_MODEL_DIR` and the other outputs.
        timeout: Maximum run time, a duration such as `3600s`.

    Raises:
        SpecError: naming the parameter or the payload field Vertex would refuse.
    """
    for name, value, minimum in (
        ("worker_count", worker_count, 1),
        ("reduction_server_count", reduction_server_count, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            allowed = f"must be a whole number >= {minimum}"
            if name == "worker_count":
                allowed += " (a distributed job has the primary and at least one worker)"
            raise SpecError(name, value, allowed)
    runnable = trainer.runnable(hyperparameters, env)
    kind = "python_package_spec" if trainer.is_python_package else "container_spec"

    def machine(name: str) -> MachineSpec:
        return MachineSpec(
            machine_type=name,
            accelerator_type=accelerator_type or None,
            accelerator_count=int(accelerator_count),
        )

    primary = WorkerPoolSpec(machine_spec=machine(machine_type), **{kind: runnable})
    workers: int | WorkerPoolSpec = worker_count
    if worker_machine_type and worker_machine_type != machine_type:
        workers = WorkerPoolSpec(
            machine_spec=machine(worker_machine_type),
            replica_count=worker_count,
            **{kind: runnable},
        )
    job_fields = {
        "scheduling": Scheduling(timeout=timeout),
        "base_output_directory": base_output_directory,
    }
    if reduction_server_count:
        reducers = reduction_server_pool(
            reduction_server_count, machine_type=reduction_server_machine_type
        )
        return reduction_server_job(primary, workers, reducers, **job_fields)
    return multi_worker_job(primary, workers, **job_fields)


def distributed_job_payload(
    *,
    splits: Mapping[str, tuple[str, Mapping[str, object]]],
    staging_root: str,
    job_id: str,
    output_name: str = "custom-job",
    **job: object,
) -> tuple[list[dict], str, str]:
    """(worker_pool_specs, base_output_directory, model_dir) of one distributed training run;
    `job` holds the arguments of `distributed_training_job` but the data and outputs."""
    from vtp.components.training.runtime import output_base, split_env

    base = output_base(staging_root, job_id, output_name)
    spec = distributed_training_job(
        env=split_env(splits),
        base_output_directory=base,
        **job,  # type: ignore[arg-type]
    )
    return spec.worker_pool_specs(), base, f"{base}/model/"


@vtp_component
def distributed_job_spec(
    train: Input[Dataset],
    validation: Input[Dataset],
    machine_type: str,
    test: Input[Dataset] = None,
    trainer_image: str = "",
    trainer_command: list = [],
    trainer_args: list = [],
    package_uris: list = [],
    python_module: str = "",
    executor_image_uri: str = "",
    worker_count: int = 2,
    worker_machine_type: str = "",
    accelerator_type: str = "",
    accelerator_count: int = 0,
    reduction_server_count: int = 0,
    reduction_server_machine_type: str = "n1-highcpu-16",
    hyperparameters: dict = {},
    staging_root: str = "",
    timeout: str = "86400s",
    output_name: str = "custom-job",
    job_id: str = dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    pipeline_root: str = dsl.PIPELINE_ROOT_PLACEHOLDER,
) -> NamedTuple(
    "Outputs", [("worker_pool_specs", list), ("base_output_directory", str), ("model_dir", str)]
):
    """Builds and validates a primary + workers custom job that runs the trainer on the splits.

    The trainer is given as in `training_job_spec` (an image with its own ENTRYPOINT, or a
    Python package on a prebuilt training image); every replica runs it with `trainer_args`
    then `--<name>=<value>` per hyperparameter, reads the data from `AIP_TRAINING_DATA_URI` /
    `AIP_VALIDATION_DATA_URI` / `AIP_TEST_DATA_URI` (`AIP_DATA_FORMAT`), and finds the others
    through `CLUSTER_SPEC` / `TF_CONFIG` / `MASTER_ADDR`...; the primary writes the model to
    `AIP_MODEL_DIR` (`<base_output_directory>/model/`).

    Args:
        train: Training split.
        validation: Validation split.
        machine_type: Machine of the primary (and of the workers by default).
        test: Test split (`AIP_TEST_DATA_URI`), optional.
        trainer_image: Image of the primary and the workers.
        trainer_command: Replaces the image's ENTRYPOINT; empty runs the ENTRYPOINT.
        trainer_args: The trainer's arguments, before the hyperparameters.
        package_uris: `gs://` source distributions of a Python package trainer.
        python_module: Module a Python package trainer runs (`python -m MODULE`).
        executor_image_uri: Prebuilt training container a Python package trainer runs on.
        worker_count: Workers besides the primary (`worker_pool_specs[1].replica_count`).
        worker_machine_type: Machine of the workers; empty: `machine_type`.
        accelerator_type: GPU of each primary and worker replica (`NVIDIA_TESLA_T4`...).
        accelerator_count: GPUs per primary and worker replica.
        reduction_server_count: Reduction Server replicas (`worker_pool_specs[2]`), 0 for
            none; needs GPU workers.
        reduction_server_machine_type: Machine of the Reduction Server replicas.
        hyperparameters: Passed to the trainer as `--<name>=<value>` arguments.
        staging_root: `gs://` directory for job outputs; empty uses the pipeline root.
        timeout: Maximum job run time, a duration such as `3600s`.
        output_name: Directory of this job under `<staging_root>/<job_id>/`.
        job_id: The pipeline job id (one output directory per run).
        pipeline_root: The pipeline root (fallback for `staging_root`).

    Returns:
        worker_pool_specs: The `CustomJobSpec.worker_pool_specs` Vertex receives.
        base_output_directory: The job's `base_output_directory`.
        model_dir: Where the primary writes the model (`AIP_MODEL_DIR`).
    """
    from collections import namedtuple

    from vtp.components.training.distributed_job_spec import distributed_job_payload
    from vtp.components.training.trainer import Trainer

    trainer = Trainer(
        trainer_image=trainer_image,
        trainer_command=trainer_command,
        trainer_args=trainer_args,
        package_uris=package_uris,
        python_module=python_module,
        executor_image_uri=executor_image_uri,
    )
    splits = {"training": train, "validation": validation, "test": test}
    specs, base, model_dir = distributed_job_payload(
        splits={k: (a.uri, dict(a.metadata)) for k, a in splits.items() if a is not None},
        staging_root=staging_root or pipeline_root,
        job_id=job_id,
        output_name=output_name,
        trainer=trainer,
        machine_type=machine_type,
        worker_count=int(worker_count),
        worker_machine_type=worker_machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=int(accelerator_count),
        reduction_server_count=int(reduction_server_count),
        reduction_server_machine_type=reduction_server_machine_type,
        hyperparameters=hyperparameters,
        timeout=timeout,
    )
    roles = ", ".join(
        f"worker_pool_specs[{i}] x{pool['replica_count']}" for i, pool in enumerate(specs) if pool
    )
    print(f"trainer: {trainer.describe()}")
    print(f"distributed job: {roles}; output directory: {base}")
    return namedtuple("Outputs", ["worker_pool_specs", "base_output_directory", "model_dir"])(
        specs, base, model_dir
    )
