"""Component: the worker pool specs of the reference training job, with its data wired in."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input

from vtp.components._component import vtp_component


@vtp_component
def training_job_spec(
    train: Input[Dataset],
    validation: Input[Dataset],
    trainer_image: str,
    machine_type: str,
    accelerator_type: str = "",
    accelerator_count: int = 0,
    hyperparameters: dict = {},
    trainer_args: list = [],
    staging_root: str = "",
    timeout: str = "86400s",
    output_name: str = "custom-job",
    job_id: str = dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    pipeline_root: str = dsl.PIPELINE_ROOT_PLACEHOLDER,
) -> NamedTuple(
    "Outputs", [("worker_pool_specs", list), ("base_output_directory", str), ("model_dir", str)]
):
    """Builds and validates the custom job payload that trains on `train`/`validation`.

    The trainer reads its data from `AIP_TRAINING_DATA_URI` / `AIP_VALIDATION_DATA_URI` and
    writes the model to `AIP_MODEL_DIR` (`<base_output_directory>/model/`), as on Vertex.

    Args:
        train: Training split (Parquet).
        validation: Validation split (Parquet).
        trainer_image: Training container image.
        machine_type: Compute Engine machine type of the primary replica.
        accelerator_type: Accelerator (`NVIDIA_TESLA_T4`...), empty for none.
        accelerator_count: Accelerators per replica.
        hyperparameters: Passed to the trainer as `--name=value` arguments.
        trainer_args: Extra trainer arguments, before the hyperparameters.
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

    specs, base, model_dir = job_payload(
        train_uri=train.uri,
        validation_uri=validation.uri,
        trainer_image=trainer_image,
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=accelerator_count,
        hyperparameters=hyperparameters,
        trainer_args=trainer_args,
        staging_root=staging_root or pipeline_root,
        job_id=job_id,
        output_name=output_name,
        timeout=timeout,
    )
    print(f"custom job output directory: {base}")
    return namedtuple("Outputs", ["worker_pool_specs", "base_output_directory", "model_dir"])(
        specs, base, model_dir
    )
