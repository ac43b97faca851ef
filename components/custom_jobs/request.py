"""The options of GCPC's `create_custom_training_job_from_component`, checked with vtp's specs.

Every option becomes part of a `CustomJobSpec` (validated against `aiplatform_v1` when built),
so a machine without the GPUs it comes with, an unknown accelerator, a bad disk type or
strategy fails when the pipeline is defined. Errors name the option as the caller wrote it
(`accelerator_type`, `nfs_mounts[0].path`), not its place in the payload.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from vtp.components.specs import (
    STRATEGIES,
    ContainerSpec,
    CustomJobSpec,
    DiskSpec,
    MachineSpec,
    NfsMount,
    ReservationAffinity,
    Scheduling,
    WorkerPoolSpec,
)
from vtp.components.specs._validate import check_int, check_str, json_fields, json_list
from vtp.errors import SpecError

#: GCPC's `persistent_resource_id` default: the PipelineJob's persistent resource, if any.
PERSISTENT_RESOURCE_PLACEHOLDER = "{{$.pipeline_persistent_resource_id}}"
#: GCPC's `max_wait_duration` default, which its launcher drops unless strategy is FLEX_START.
DEFAULT_MAX_WAIT = "86400s"
DEFAULT_DISK_SIZE_GB = 100


@contextmanager
def _as_options(prefixes: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a builder's `SpecError` under the option's name (`machine_spec.x` -> `x`)."""
    try:
        yield
    except SpecError as err:
        field = err.field
        for old, new in prefixes.items():
            if field.startswith(old):
                field = new + field[len(old) :]
                break
        raise SpecError(field, err.value, err.allowed) from None


@dataclass(frozen=True)
class CustomJobRequest:
    """What a wrapped component asks Vertex for.

    Attributes:
        component_name: The wrapped component's name.
        display_name: The CustomJob's display name (the component's name when not given).
        job: The job: primary pool, and a workers pool for `replica_count - 1` more replicas.
        gcpc_options: The keyword options for GCPC's function, durations normalised.
    """

    component_name: str
    display_name: str
    job: CustomJobSpec
    gcpc_options: dict[str, Any]

    @property
    def worker_pool_specs(self) -> list[dict[str, Any]]:
        return self.job.worker_pool_specs()


def container_of(component_spec: object) -> dict[str, Any]:
    """The single container a component runs (`image`, `command`, `args`), as in its IR.

    Raises:
        SpecError: `component_spec` is not a KFP component, or it is a pipeline.
    """
    from google.protobuf import json_format
    from kfp.dsl.base_component import BaseComponent

    if not isinstance(component_spec, BaseComponent):
        raise SpecError(
            "component_spec",
            component_spec,
            "must be a KFP component (@dsl.component, @dsl.container_component or loaded YAML)",
        )
    if component_spec.component_spec.implementation.container is None:
        raise SpecError(
            "component_spec",
            component_spec.name,
            "must be a single-container component: a pipeline cannot run as one custom job",
        )
    ir = json_format.MessageToDict(component_spec.pipeline_spec)
    return next(iter(ir["deploymentSpec"]["executors"].values()))["container"]


def custom_job_request(component_spec: object, options: Mapping[str, Any]) -> CustomJobRequest:
    """Checks GCPC's options (`create_custom_training_job_from_component` keyword arguments,
    all of them) and builds the job they describe.

    Raises:
        SpecError: naming the option, its value and what is allowed.
    """
    o = dict(options)
    container = container_of(component_spec)
    name = component_spec.component_spec.name
    replicas = check_int("replica_count", o["replica_count"], minimum=1)
    display_name = check_str("display_name", o["display_name"]) or name

    pool = WorkerPoolSpec(
        machine_spec=_machine(o),
        container_spec=_container(container, o["env"]),
        disk_spec=_disk(o),
        nfs_mounts=_nfs_mounts(o["nfs_mounts"]),
    )
    with _as_options({"scheduling.": ""}):
        scheduling = Scheduling(
            timeout=o["timeout"],
            restart_job_on_worker_restart=o["restart_job_on_worker_restart"],
            strategy=o["strategy"],
            max_wait_duration=_max_wait(o["strategy"], o["max_wait_duration"]),
        )
    _check_psc(o["psc_interface_config"], o["network"])
    persistent = o["persistent_resource_id"]
    job = CustomJobSpec(
        primary=pool,
        workers=dataclasses.replace(pool, replica_count=replicas - 1) if replicas > 1 else None,
        scheduling=scheduling,
        service_account=o["service_account"],
        network=o["network"],
        reserved_ip_ranges=o["reserved_ip_ranges"] or (),
        tensorboard=o["tensorboard"],
        enable_web_access=o["enable_web_access"],
        persistent_resource_id="" if persistent == PERSISTENT_RESOURCE_PLACEHOLDER else persistent,
        base_output_directory=o["base_output_directory"],
        labels=o["labels"] or {},
        encryption_spec_key_name=o["encryption_spec_key_name"],
    )
    job.to_custom_job(display_name)  # checks the display name as the API would
    o["timeout"] = scheduling.timeout
    if scheduling.max_wait_duration is not None:
        o["max_wait_duration"] = scheduling.max_wait_duration
    return CustomJobRequest(component_name=name, display_name=display_name, job=job, gcpc_options=o)


def _machine(o: Mapping[str, Any]) -> MachineSpec:
    kind = o["accelerator_type"]
    count = o["accelerator_count"]
    if not kind:
        check_int("accelerator_count", count)
        if count > 1:
            raise SpecError(
                "accelerator_count",
                count,
                "must be 0 or 1 without accelerator_type (GCPC would ignore it)",
            )
        count = 0
    affinity = None
    if o["reservation_affinity_type"] is not None:
        names = {
            "reservation_affinity.reservation_affinity_type": "reservation_affinity_type",
            "reservation_affinity.key": "reservation_affinity_key",
            "reservation_affinity.values": "reservation_affinity_values",
        }
        with _as_options(names):
            affinity = ReservationAffinity(
                reservation_affinity_type=o["reservation_affinity_type"],
                key=o["reservation_affinity_key"] or "",
                values=o["reservation_affinity_values"] or (),
            )
    else:
        for option in ("reservation_affinity_key", "reservation_affinity_values"):
            if o[option] is not None:
                raise SpecError(option, o[option], "needs reservation_affinity_type to be set")
    with _as_options({"machine_spec.": ""}):
        return MachineSpec(
            machine_type=o["machine_type"],
            accelerator_type=kind or None,
            accelerator_count=count,
            reservation_affinity=affinity,
        )


def _container(container: Mapping[str, Any], env: object) -> ContainerSpec:
    variables: dict[str, str] = {}
    for i, item in enumerate(json_list("env", env or [])):
        var = json_fields(item, f"env[{i}]", ("name", "value"), required=("name",))
        if var["name"] in variables:
            raise SpecError(f"env[{i}].name", var["name"], "must not repeat an earlier name")
        variables[var["name"]] = var.get("value", "")
    with _as_options({"container_spec.env": "env", "container_spec.": "component_spec "}):
        return ContainerSpec(
            image_uri=container["image"],
            command=container.get("command", []),
            args=container.get("args", []),
            env=variables,
        )


def _disk(o: Mapping[str, Any]) -> DiskSpec | None:
    if not o["boot_disk_type"]:
        if o["boot_disk_size_gb"] != DEFAULT_DISK_SIZE_GB:
            raise SpecError(
                "boot_disk_size_gb",
                o["boot_disk_size_gb"],
                f"must stay {DEFAULT_DISK_SIZE_GB} without boot_disk_type (GCPC would ignore it)",
            )
        return None
    with _as_options({"disk_spec.": ""}):
        return DiskSpec(
            boot_disk_type=o["boot_disk_type"], boot_disk_size_gb=o["boot_disk_size_gb"]
        )


def _nfs_mounts(mounts: object) -> list[NfsMount]:
    out = []
    for i, item in enumerate(json_list("nfs_mounts", mounts or [])):
        path = f"nfs_mounts[{i}]"
        names = ("server", "path", "mount_point")
        d = json_fields(item, path, names, required=names)
        with _as_options({"nfs_mount": path}):
            out.append(NfsMount(**d))
    return out


def _max_wait(strategy: object, value: object) -> object:
    """GCPC's default wait is dropped by its launcher unless FLEX_START: treat it as unset,
    and refuse another value with another strategy (it would be dropped as well)."""
    if strategy == "FLEX_START" or strategy not in STRATEGIES:
        return value
    if value != DEFAULT_MAX_WAIT:
        raise SpecError(
            "max_wait_duration",
            value,
            f"must stay {DEFAULT_MAX_WAIT} unless strategy is FLEX_START (strategy is "
            f"{strategy}; GCPC's launcher drops it)",
        )
    return None


def _check_psc(config: object, network: object) -> None:
    if config is None:
        return
    if network:
        raise SpecError(
            "psc_interface_config", config, f"must be unset when network is set ({network!r})"
        )
    from vtp.components.specs._proto import check_message

    if not isinstance(config, Mapping):
        raise SpecError("psc_interface_config", config, "must be a dict (PscInterfaceConfig)")
    check_message("PscInterfaceConfig", config, "psc_interface_config")
