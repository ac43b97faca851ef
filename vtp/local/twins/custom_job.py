"""Local twin of GCPC `v1.custom_job.CustomTrainingJobOp`."""

from kfp import dsl

from vtp.components._component import vtp_component


# The signature mirrors GCPC's op input for input (a contract test holds them equal). Defaults
# differ only where GCPC uses `{{$.pipeline_google_cloud_*}}` placeholders, which kfp.local
# cannot resolve.
@vtp_component
def custom_training_job(
    display_name: str,
    gcp_resources: dsl.OutputPath(str),
    location: str = "us-central1",
    worker_pool_specs: list = [],
    timeout: str = "604800s",
    restart_job_on_worker_restart: bool = False,
    service_account: str = "",
    tensorboard: str = "",
    enable_web_access: bool = False,
    network: str = "",
    reserved_ip_ranges: list = [],
    base_output_directory: str = "",
    labels: dict = {},
    encryption_spec_key_name: str = "",
    persistent_resource_id: str = "",
    project: str = "local-project",
    strategy: str = "STANDARD",
    max_wait_duration: str = "86400s",
    psc_interface_config: dict = {},
):
    """Runs a Vertex custom job payload on this machine, one process per replica.

    Every replica gets the Vertex runtime contract (`AIP_MODEL_DIR`, `CLUSTER_SPEC`,
    `TF_CONFIG`, `MASTER_ADDR`...), `gs://` paths map onto the local Cloud Storage mount,
    `timeout` is enforced and a failing replica stops the job. Inputs as in
    `CustomTrainingJobOp`; networking, service account and encryption settings are validated
    and recorded, not applied.
    """
    from vtp.local.twins.custom_job_runtime import run_custom_job_twin

    run_custom_job_twin(
        gcp_resources_path=gcp_resources,
        project=project,
        location=location,
        payload={
            "display_name": display_name,
            "job_spec": {
                "worker_pool_specs": worker_pool_specs,
                "scheduling": {
                    "timeout": timeout,
                    "restart_job_on_worker_restart": restart_job_on_worker_restart,
                    "strategy": strategy,
                    "max_wait_duration": max_wait_duration,
                },
                "service_account": service_account,
                "tensorboard": tensorboard,
                "enable_web_access": enable_web_access,
                "network": network,
                "reserved_ip_ranges": reserved_ip_ranges,
                "base_output_directory": {"output_uri_prefix": base_output_directory},
                "persistent_resource_id": persistent_resource_id,
                "psc_interface_config": psc_interface_config,
            },
            "labels": labels,
            "encryption_spec": {"kms_key_name": encryption_spec_key_name},
        },
    )
