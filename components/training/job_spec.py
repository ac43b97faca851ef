"""Component: the worker pool specs of a training job, with its trainer and data wired in."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input

from vtp.components._component import vtp_component


@vtp_component
def training_job_spec(
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
    accelerator_type: str = "",
    accelerator_count: int = 0,
    hyperparameters: dict = {},
    staging_root: str = "",
    timeout: str = "86400s",
    output_name: str = "custom-job",
    job_id: str = dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    pipeline_root: str = dsl.PIPELINE_ROOT_PLACEHOLDER,
) -> NamedTuple(
    "Outputs", [("worker_pool_specs", list), ("base_output_directory", str), ("model_dir", str)]
):
    """Builds and validates the custom job payload that runs the trainer on the splits.

    The trainer is a container image run with its own ENTRYPOINT (`trainer_image`, optional
    `trainer_command`) or, when `python_module` is set, a Python package on a prebuilt training
    image (`package_uris`, `python_module`, `executor_image_uri`). Its arguments are
    `trainer_args` then `--<name>=<value>` per hyperparameter, nothing else. The data arrives
    as on Vertex with a managed dataset: `AIP_TRAINING_DATA_URI`, `AIP_VALIDATION_DATA_URI`,
    `AIP_TEST_DATA_URI` (wildcards such as `.../training-*`) and `AIP_DATA_FORMAT`; the model
    goes to `AIP_MODEL_DIR` (`<base_output_directory>/model/`).

    Args:
        train: Training split.
        validation: Validation split.
        machine_type: Compute Engine machine type of the primary replica.
        test: Test split (`AIP_TEST_DATA_URI`), optional.
        trainer_image: Training container image (`container_spec.image_uri`).
        trainer_command: Replaces the image's ENTRYPOINT; empty runs the ENTRYPOINT.
        trainer_args: The trainer's arguments (`args`), before the hyperparameters.
        package_uris: `gs://` source distributions of a Python package trainer.
        python_module: Module a Python package trainer runs (`python -m MODULE`).
        executor_image_uri: Prebuilt training container a Python package trainer runs on.
        accelerator_type: Accelerator (`NVIDIA_TESLA_T4`...), empty for none.
        accelerator_count: Accelerators per replica.
        hyperparameters: Passed to the trainer as `--<name>=<value>` arguments.
        staging_root: `gs://` directory for job outputs; empty uses the pipeline root.
        timeout: Maximum job run time, a duration such as `3600s`.
        output_name: Directory of this job under `<staging_root>/<job_id>/`.
        job_id: The pipeline job id (one output directory per run).
        pipeline_root: The pipeline root (fallback for `staging_root`).

    Returns:
        worker_pool_specs: The `CustomJobSpec.worker_pool_specs` Vertex receives.
        base_output_directory: The job's `base_output_directory`.
        model_dir: Where the trainer writes the model (`AIP_MODEL_DIR`).
    """
    from collections import namedtuple

    from vtp.components.training.runtime import job_payload
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
    specs, base, model_dir = job_payload(
        splits={k: (a.uri, dict(a.metadata)) for k, a in splits.items() if a is not None},
        trainer=trainer,
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=accelerator_count,
        hyperparameters=hyperparameters,
        staging_root=staging_root or pipeline_root,
        job_id=job_id,
        output_name=output_name,
        timeout=timeout,
    )
    print(f"trainer: {trainer.describe()}")
    print(f"custom job output directory: {base}")
    return namedtuple("Outputs", ["worker_pool_specs", "base_output_directory", "model_dir"])(
        specs, base, model_dir
    )
