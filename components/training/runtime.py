"""What the training components do at run time, kept out of their bodies so it is testable."""

from __future__ import annotations

from collections.abc import Mapping

from vtp.components.training.data_env import data_env
from vtp.components.training.payload import training_job
from vtp.components.training.trainer import Trainer
from vtp.gcs import gcs_root, mount_to_gcs

#: A split artifact as the job-spec components see it: (uri, metadata).
Split = tuple[str, Mapping[str, object]]


def as_gcs_uri(uri: str) -> str:
    """A local path under the active Cloud Storage mount, as the `gs://` URI it stands for."""
    root = gcs_root()
    if root:
        mapped = mount_to_gcs(uri, root)
        if mapped:
            return mapped
    return uri


def split_env(splits: Mapping[str, Split]) -> dict[str, str]:
    """`AIP_TRAINING_DATA_URI`... and `AIP_DATA_FORMAT` of the splits, as `gs://` URIs."""
    env = data_env(splits)
    return {k: as_gcs_uri(v) if k.endswith("_URI") else v for k, v in env.items()}


def output_base(staging_root: str, job_id: str, output_name: str) -> str:
    """`<staging_root>/<job_id>/<output_name>`: the job's `base_output_directory`."""
    return f"{as_gcs_uri(staging_root).rstrip('/')}/{job_id}/{output_name}"


def job_payload(
    *,
    splits: Mapping[str, Split],
    trainer: Trainer,
    machine_type: str,
    accelerator_type: str,
    accelerator_count: int,
    hyperparameters: Mapping[str, object],
    staging_root: str,
    job_id: str,
    timeout: str,
    output_name: str = "custom-job",
) -> tuple[list[dict], str, str]:
    """(worker_pool_specs, base_output_directory, model_dir) of one training run."""
    base = output_base(staging_root, job_id, output_name)
    job = training_job(
        trainer=trainer,
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=int(accelerator_count),
        hyperparameters=hyperparameters,
        env=split_env(splits),
        base_output_directory=base,
        timeout=timeout,
    )
    return job.worker_pool_specs(), base, f"{base}/model/"
