"""`create_custom_training_job_from_component` for a target, checked when the pipeline is built."""

from __future__ import annotations

from collections.abc import Callable

from vtp.components.custom_jobs.request import PERSISTENT_RESOURCE_PLACEHOLDER, custom_job_request


class CustomJobFromComponent:
    """GCPC's `v1.custom_job.create_custom_training_job_from_component`, same signature, with
    every option checked by vtp's typed specs first (a `SpecError` names the option).

    It returns GCPC's component: the wrapped component runs as a Vertex CustomJob (locally,
    on the custom-job twin, with the executor input the wrapped component would get).
    """

    def __repr__(self) -> str:
        return "custom_job_from_component"

    # The signature is GCPC's, option for option (a test compares them).
    def __call__(
        self,
        component_spec: Callable,
        display_name: str = "",
        replica_count: int = 1,
        machine_type: str = "n1-standard-4",
        accelerator_type: str = "",
        accelerator_count: int = 1,
        boot_disk_type: str = "pd-ssd",
        boot_disk_size_gb: int = 100,
        timeout: str = "604800s",
        restart_job_on_worker_restart: bool = False,
        service_account: str = "",
        network: str = "",
        encryption_spec_key_name: str = "",
        tensorboard: str = "",
        enable_web_access: bool = False,
        reserved_ip_ranges: list[str] | None = None,
        nfs_mounts: list[dict[str, str]] | None = None,
        base_output_directory: str = "",
        labels: dict[str, str] | None = None,
        persistent_resource_id: str = PERSISTENT_RESOURCE_PLACEHOLDER,
        env: list[dict[str, str]] | None = None,
        strategy: str = "STANDARD",
        max_wait_duration: str = "86400s",
        reservation_affinity_type: str | None = None,
        reservation_affinity_key: str | None = None,
        reservation_affinity_values: list[str] | None = None,
        psc_interface_config: dict[str, str | list[dict[str, str]]] | None = None,
    ) -> Callable:
        """Wraps `component_spec` as a custom job step (arguments as in GCPC's function).

        Returns:
            A component with the wrapped component's inputs and outputs plus the custom job's
            (`project`, `location`, `worker_pool_specs`... with these options as defaults, and
            the `gcp_resources` output).

        Raises:
            SpecError: an option Vertex would refuse, or a component that cannot be wrapped.
        """
        options = {k: v for k, v in locals().items() if k not in ("self", "component_spec")}
        request = custom_job_request(component_spec, options)
        from google_cloud_pipeline_components.v1.custom_job import (
            create_custom_training_job_from_component,
        )

        return create_custom_training_job_from_component(component_spec, **request.gcpc_options)


custom_job_from_component = CustomJobFromComponent()
