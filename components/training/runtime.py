"""What the training components do at run time, kept out of their bodies so it is testable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vtp.components.training.payload import training_job
from vtp.gcs import gcs_root, mount_to_gcs


def as_gcs_uri(uri: str) -> str:
    """A local path under the active Cloud Storage mount, as the `gs://` URI it stands for."""
    root = gcs_root()
    if root:
        mapped = mount_to_gcs(uri, root)
        if mapped:
            return mapped
    return uri


def job_payload(
    *,
    train_uri: str,
    validation_uri: str,
    trainer_image: str,
    machine_type: str,
    accelerator_type: str,
    accelerator_count: int,
    hyperparameters: Mapping[str, object],
    trainer_args: Sequence[str],
    staging_root: str,
    job_id: str,
    timeout: str,
    output_name: str = "custom-job",
) -> tuple[list[dict], str, str]:
    """(worker_pool_specs, base_output_directory, model_dir) of one training run."""
    base = f"{as_gcs_uri(staging_root).rstrip('/')}/{job_id}/{output_name}"
    job = training_job(
        trainer_image=trainer_image,
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=int(accelerator_count),
        trainer_args=[str(a) for a in trainer_args],
        hyperparameters=hyperparameters,
        env={
            "AIP_TRAINING_DATA_URI": as_gcs_uri(train_uri),
            "AIP_VALIDATION_DATA_URI": as_gcs_uri(validation_uri),
        },
        base_output_directory=base,
        timeout=timeout,
    )
    return job.worker_pool_specs(), base, f"{base}/model/"
