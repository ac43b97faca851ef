"""A whole custom job: pools by role, scheduling and job-level settings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vtp.components.specs._validate import (
    FrozenMap,
    check_bool,
    check_labels,
    check_pattern,
    check_str,
    str_tuple,
)
from vtp.components.specs.scheduling import Scheduling
from vtp.components.specs.worker_pool import WorkerPoolSpec
from vtp.errors import SpecError
from vtp.gcs import check_gcs_uri

#: Pool roles in `worker_pool_specs` order.
ROLES: tuple[str, ...] = ("primary", "workers", "parameter_servers", "evaluators")

_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "service_account": (
        re.compile(r"[^@\s/]+@[^@\s/]+\.[^@\s/]+"),
        "must be a service account email such as trainer@my-project.iam.gserviceaccount.com",
    ),
    "network": (
        re.compile(r"projects/\d+/global/networks/[^/\s]+"),
        "must be projects/{project_number}/global/networks/{network}",
    ),
    "tensorboard": (
        re.compile(r"projects/[^/\s]+/locations/[^/\s]+/tensorboards/[^/\s]+"),
        "must be projects/{project}/locations/{location}/tensorboards/{tensorboard}",
    ),
    "persistent_resource_id": (
        re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?"),
        "must be a PersistentResource ID: lowercase letters, digits and -, at most 63",
    ),
    "base_output_directory": (
        re.compile(r"gs://[^/\s]+(/\S*)?"),
        "must be a gs://bucket[/path] URI or empty",
    ),
    "encryption_spec_key_name": (
        re.compile(r"projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+"),
        "must be projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{key}",
    ),
}


@dataclass(frozen=True)
class CustomJobSpec:
    """A Vertex custom job, validated against the aiplatform_v1 protos at construction.

    The roles map to `worker_pool_specs[0..3]`: primary (replica_count 1), workers, parameter
    servers (or the Reduction Server), evaluators.
    """

    primary: WorkerPoolSpec
    workers: WorkerPoolSpec | None = None
    parameter_servers: WorkerPoolSpec | None = None
    evaluators: WorkerPoolSpec | None = None
    scheduling: Scheduling = field(default_factory=Scheduling)
    service_account: str = ""
    network: str = ""
    reserved_ip_ranges: Sequence[str] = ()
    tensorboard: str = ""
    enable_web_access: bool = False
    persistent_resource_id: str = ""
    base_output_directory: str = ""
    labels: Mapping[str, str] = field(default_factory=FrozenMap)
    encryption_spec_key_name: str = ""

    def __post_init__(self) -> None:
        for index, role in enumerate(ROLES):
            pool = getattr(self, role)
            if (pool is not None or index == 0) and not isinstance(pool, WorkerPoolSpec):
                allowed = "must be a WorkerPoolSpec" + (" or None" if index else "")
                raise SpecError(f"worker_pool_specs[{index}] ({role})", pool, allowed)
        if self.primary.replica_count != 1:
            raise SpecError(
                "worker_pool_specs[0].replica_count",
                self.primary.replica_count,
                "must be 1 (the primary pool)",
            )
        if not isinstance(self.scheduling, Scheduling):
            raise SpecError("scheduling", self.scheduling, "must be a Scheduling")
        for name, (pattern, allowed) in _PATTERNS.items():
            check_pattern(name, getattr(self, name), pattern, allowed)
        if self.base_output_directory:
            check_gcs_uri("base_output_directory", self.base_output_directory)
        ranges = str_tuple("reserved_ip_ranges", self.reserved_ip_ranges)
        for i, name in enumerate(ranges):
            check_str(f"reserved_ip_ranges[{i}]", name, required=True)
        if ranges and not self.network:
            raise SpecError("reserved_ip_ranges", list(ranges), "require network to be set")
        object.__setattr__(self, "reserved_ip_ranges", ranges)
        check_bool("enable_web_access", self.enable_web_access)
        object.__setattr__(self, "labels", check_labels("labels", self.labels))
        self.validate()

    @classmethod
    def from_worker_pool_specs(
        cls, specs: Sequence[WorkerPoolSpec | None], **job_fields: Any
    ) -> CustomJobSpec:
        """Build from pools in `worker_pool_specs` order (as `parse_worker_pool_specs` gives)."""
        if len(specs) > len(ROLES):
            raise SpecError("worker_pool_specs", f"{len(specs)} pools", "must hold 1 to 4 pools")
        return cls(**dict(zip(ROLES, specs, strict=False)), **job_fields)

    def worker_pool_specs(self) -> list[dict[str, Any]]:
        """The `worker_pool_specs` Vertex receives: unused middle pools `{}`, trailing omitted."""
        pools = [getattr(self, role) for role in ROLES]
        while pools[-1] is None:
            pools.pop()
        return [{} if pool is None else pool.to_dict() for pool in pools]

    def op_inputs(self) -> dict[str, Any]:
        """Keyword inputs of GCPC `v1.custom_job.CustomTrainingJobOp`, in its signature order.

        Every input is given except `display_name`, `project` and `location` (the caller's),
        `psc_interface_config` (not modelled), `persistent_resource_id` when empty (GCPC's
        default then resolves it from the PipelineJob) and `max_wait_duration` when unset (GCPC's
        default, 86400s, which its launcher drops unless strategy is FLEX_START).

        Raises:
            SpecError: if `scheduling.disable_retries` is set: the op has no such input.
        """
        scheduling = self.scheduling
        if scheduling.disable_retries:
            raise SpecError(
                "scheduling.disable_retries",
                True,
                "must be False for CustomTrainingJobOp (it has no such input)",
            )
        inputs: dict[str, Any] = {
            "worker_pool_specs": self.worker_pool_specs(),
            "timeout": scheduling.timeout,
            "restart_job_on_worker_restart": scheduling.restart_job_on_worker_restart,
            "service_account": self.service_account,
            "tensorboard": self.tensorboard,
            "enable_web_access": self.enable_web_access,
            "network": self.network,
            "reserved_ip_ranges": list(self.reserved_ip_ranges),
            "base_output_directory": self.base_output_directory,
            "labels": dict(self.labels),
            "encryption_spec_key_name": self.encryption_spec_key_name,
        }
        if self.persistent_resource_id:
            inputs["persistent_resource_id"] = self.persistent_resource_id
        inputs["strategy"] = scheduling.strategy
        if scheduling.max_wait_duration is not None:
            inputs["max_wait_duration"] = scheduling.max_wait_duration
        return inputs

    def to_custom_job(self, display_name: str) -> dict[str, Any]:
        """The `CustomJob` resource as the REST API takes it (snake_case, unset fields omitted)."""
        check_str("display_name", display_name, required=True)
        if len(display_name) > 128:
            raise SpecError("display_name", display_name, "must be at most 128 characters")
        job_spec: dict[str, Any] = {
            "worker_pool_specs": self.worker_pool_specs(),
            "scheduling": self.scheduling.to_dict(),
        }
        for name in ("service_account", "network", "tensorboard", "persistent_resource_id"):
            if getattr(self, name):
                job_spec[name] = getattr(self, name)
        if self.reserved_ip_ranges:
            job_spec["reserved_ip_ranges"] = list(self.reserved_ip_ranges)
        if self.base_output_directory:
            job_spec["base_output_directory"] = {"output_uri_prefix": self.base_output_directory}
        if self.enable_web_access:
            job_spec["enable_web_access"] = True
        job: dict[str, Any] = {"display_name": display_name, "job_spec": job_spec}
        if self.labels:
            job["labels"] = dict(self.labels)
        if self.encryption_spec_key_name:
            job["encryption_spec"] = {"kms_key_name": self.encryption_spec_key_name}
        return job

    def validate(self) -> None:
        """Parse the job into `aiplatform_v1.CustomJob` (runs at construction).

        Raises:
            SpecError: naming the field the proto refuses.
        """
        from vtp.components.specs._proto import check_message

        job = self.to_custom_job("x")
        for index, pool in enumerate(job["job_spec"]["worker_pool_specs"]):
            check_message("WorkerPoolSpec", pool, f"worker_pool_specs[{index}]")
        check_message("CustomJob", job, drop=("job_spec",))
