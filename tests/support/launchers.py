"""What GCPC's launchers receive, for calling the local twins directly in tests.

The shapes are those of GCPC 2.22's components (`v1/custom_job`, `v1/hyperparameter_tuning_job`,
`v1/model/upload_model`): the `--payload` JSON once its placeholders are filled in, and the
executor input the upload launcher reads its model artifact from. The end-to-end tests run the
real compiled launcher tasks; these helpers exercise the twins' own logic quickly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def custom_job_payload(
    worker_pool_specs: list,
    *,
    display_name: str = "job",
    base_output_directory: str = "",
    timeout: str = "604800s",
    strategy: str = "STANDARD",
    labels: dict | None = None,
) -> dict[str, Any]:
    """`CustomTrainingJobOp`'s `--payload`, parsed."""
    return {
        "display_name": display_name,
        "job_spec": {
            "worker_pool_specs": worker_pool_specs,
            "scheduling": {
                "timeout": timeout,
                "restart_job_on_worker_restart": False,
                "strategy": strategy,
                "max_wait_duration": "86400s",
            },
            "service_account": "",
            "tensorboard": "",
            "enable_web_access": False,
            "network": "",
            "reserved_ip_ranges": [],
            "base_output_directory": {"output_uri_prefix": base_output_directory},
            "persistent_resource_id": "",
            "psc_interface_config": {},
        },
        "labels": labels or {},
        "encryption_spec": {"kms_key_name": ""},
    }


def tuning_payload(
    *,
    worker_pool_specs: list,
    study_spec_metrics: list,
    study_spec_parameters: list,
    max_trial_count: int,
    parallel_trial_count: int,
    display_name: str = "study",
    base_output_directory: str = "",
    max_failed_trial_count: int = 0,
    study_spec_algorithm: str = "ALGORITHM_UNSPECIFIED",
    study_spec_measurement_selection_type: str = "BEST_MEASUREMENT",
    encryption_spec_key_name: str = "",
    service_account: str = "",
    network: str = "",
) -> dict[str, Any]:
    """`HyperparameterTuningJobRunOp`'s `--payload`, parsed."""
    return {
        "display_name": display_name,
        "study_spec": {
            "metrics": study_spec_metrics,
            "parameters": study_spec_parameters,
            "algorithm": study_spec_algorithm,
            "measurement_selection_type": study_spec_measurement_selection_type,
        },
        "max_trial_count": max_trial_count,
        "parallel_trial_count": parallel_trial_count,
        "max_failed_trial_count": max_failed_trial_count,
        "trial_job_spec": {
            "worker_pool_specs": worker_pool_specs,
            "service_account": service_account,
            "network": network,
            "base_output_directory": {"output_uri_prefix": base_output_directory},
        },
        "encryption_spec": {"kms_key_name": encryption_spec_key_name},
    }


def upload_args(
    work: Path,
    *,
    display_name: str,
    model_uri: str | None,
    container_spec: dict | None = None,
    parent_model_name: str | None = None,
    version_aliases: list | None = None,
    labels: dict | None = None,
    project: str = "local-project",
    location: str = "us-central1",
) -> dict[str, Any]:
    """The arguments `ModelUploadOp`'s launcher parses (for `upload_from_launcher`)."""
    payload = {
        "display_name": display_name,
        "description": "",
        "explanation_spec": {"parameters": {}, "metadata": {}},
        "encryption_spec": {"kms_key_name": ""},
        "version_aliases": version_aliases or [],
        "labels": labels or {},
        "pipeline_job": f"projects/{project}/locations/{location}/pipelineJobs/run",
    }
    inputs: dict[str, Any] = {}
    if model_uri is not None:
        inputs["artifacts"] = {
            "unmanaged_container_model": {
                "artifacts": [
                    {
                        "name": "m",
                        "type": {"schemaTitle": "google.UnmanagedContainerModel"},
                        "uri": model_uri,
                        "metadata": {"containerSpec": container_spec or {"imageUri": "srv"}},
                    }
                ]
            }
        }
    executor_input = {
        "inputs": inputs,
        "outputs": {
            "artifacts": {
                "model": {
                    "artifacts": [
                        {"name": "model", "type": {"schemaTitle": "google.VertexModel"}, "uri": ""}
                    ]
                }
            },
            "outputFile": str(work / "executor_output.json"),
        },
    }
    return {
        "project": project,
        "location": location,
        "payload": json.dumps(payload),
        "gcp_resources": str(work / "gcp_resources"),
        "executor_input": json.dumps(executor_input),
        "parent_model_name": parent_model_name,
    }


def uploaded_model(work: Path) -> dict[str, Any]:
    """The `model` artifact the upload launcher wrote to its executor output."""
    output = json.loads((work / "executor_output.json").read_text())
    return output["artifacts"]["model"]["artifacts"][0]
