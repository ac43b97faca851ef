"""Payload builders: exact dicts, one refusal per rule, round trips, proto validation."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from vtp.components.specs import (
    ACCELERATOR_TYPES,
    STRATEGIES,
    ContainerSpec,
    CustomJobSpec,
    DiskSpec,
    MachineSpec,
    NfsMount,
    PythonPackageSpec,
    ReservationAffinity,
    Scheduling,
    WorkerPoolSpec,
    parse_worker_pool_specs,
    validate_worker_pool_specs,
    worker_pool_from_dict,
)
from vtp.components.specs.machines import RETIRED_ACCELERATOR_TYPES
from vtp.errors import SpecError

IMAGE = "us-docker.pkg.dev/p/r/trainer:1"


def pool(**kwargs) -> WorkerPoolSpec:
    kwargs.setdefault("machine_spec", MachineSpec())
    if "python_package_spec" not in kwargs:
        kwargs.setdefault("container_spec", ContainerSpec(IMAGE))
    return WorkerPoolSpec(**kwargs)


def full_job() -> CustomJobSpec:
    return CustomJobSpec(
        primary=pool(
            machine_spec=MachineSpec("a2-highgpu-2g", "NVIDIA_TESLA_A100", 2),
            container_spec=ContainerSpec(
                IMAGE, command=["python", "-m", "trainer.task"], args=["--lr=0.1"], env={"A": "1"}
            ),
            disk_spec=DiskSpec("pd-standard", 200),
        ),
        parameter_servers=pool(
            python_package_spec=PythonPackageSpec(IMAGE, ["gs://b/pkg.tar.gz"], "trainer.task"),
            replica_count=2,
            nfs_mounts=[NfsMount("10.0.0.2", "/export", "data")],
        ),
        scheduling=Scheduling(
            timeout=timedelta(hours=2), strategy="FLEX_START", max_wait_duration=600
        ),
        service_account="trainer@p.iam.gserviceaccount.com",
        network="projects/123/global/networks/vpc",
        reserved_ip_ranges=["vertex-range"],
        tensorboard="projects/p/locations/us-central1/tensorboards/7",
        enable_web_access=True,
        persistent_resource_id="pool-1",
        base_output_directory="gs://b/out",
        labels={"team": "ml", "run": "a-1"},
        encryption_spec_key_name="projects/p/locations/us/keyRings/r/cryptoKeys/k",
    )


PRIMARY_DICT = {
    "machine_spec": {
        "machine_type": "a2-highgpu-2g",
        "accelerator_type": "NVIDIA_TESLA_A100",
        "accelerator_count": 2,
    },
    "replica_count": 1,
    "container_spec": {
        "image_uri": IMAGE,
        "command": ["python", "-m", "trainer.task"],
        "args": ["--lr=0.1"],
        "env": [{"name": "A", "value": "1"}],
    },
    "disk_spec": {"boot_disk_type": "pd-standard", "boot_disk_size_gb": 200},
}
PS_DICT = {
    "machine_spec": {"machine_type": "n1-standard-4"},
    "replica_count": 2,
    "python_package_spec": {
        "executor_image_uri": IMAGE,
        "package_uris": ["gs://b/pkg.tar.gz"],
        "python_module": "trainer.task",
    },
    "nfs_mounts": [{"server": "10.0.0.2", "path": "/export", "mount_point": "data"}],
}


# --- exact payloads ---------------------------------------------------------------------------


def test_minimal_job_payloads():
    job = CustomJobSpec(primary=pool())
    wps = [
        {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "replica_count": 1,
            "container_spec": {"image_uri": IMAGE},
        }
    ]
    assert job.worker_pool_specs() == wps
    assert job.to_custom_job("train") == {
        "display_name": "train",
        "job_spec": {
            "worker_pool_specs": wps,
            "scheduling": {
                "timeout": "604800s",
                "restart_job_on_worker_restart": False,
                "strategy": "STANDARD",
            },
        },
    }
    assert job.op_inputs() == {
        "worker_pool_specs": wps,
        "timeout": "604800s",
        "restart_job_on_worker_restart": False,
        "service_account": "",
        "tensorboard": "",
        "enable_web_access": False,
        "network": "",
        "reserved_ip_ranges": [],
        "base_output_directory": "",
        "labels": {},
        "encryption_spec_key_name": "",
        "strategy": "STANDARD",
    }


def test_full_job_to_custom_job():
    assert full_job().to_custom_job("train") == {
        "display_name": "train",
        "job_spec": {
            "worker_pool_specs": [PRIMARY_DICT, {}, PS_DICT],
            "scheduling": {
                "timeout": "7200s",
                "restart_job_on_worker_restart": False,
                "strategy": "FLEX_START",
                "max_wait_duration": "600s",
            },
            "service_account": "trainer@p.iam.gserviceaccount.com",
            "network": "projects/123/global/networks/vpc",
            "tensorboard": "projects/p/locations/us-central1/tensorboards/7",
            "persistent_resource_id": "pool-1",
            "reserved_ip_ranges": ["vertex-range"],
            "base_output_directory": {"output_uri_prefix": "gs://b/out"},
            "enable_web_access": True,
        },
        "labels": {"team": "ml", "run": "a-1"},
        "encryption_spec": {"kms_key_name": "projects/p/locations/us/keyRings/r/cryptoKeys/k"},
    }


def test_full_job_op_inputs():
    assert full_job().op_inputs() == {
        "worker_pool_specs": [PRIMARY_DICT, {}, PS_DICT],
        "timeout": "7200s",
        "restart_job_on_worker_restart": False,
        "service_account": "trainer@p.iam.gserviceaccount.com",
        "tensorboard": "projects/p/locations/us-central1/tensorboards/7",
        "enable_web_access": True,
        "network": "projects/123/global/networks/vpc",
        "reserved_ip_ranges": ["vertex-range"],
        "base_output_directory": "gs://b/out",
        "labels": {"team": "ml", "run": "a-1"},
        "encryption_spec_key_name": "projects/p/locations/us/keyRings/r/cryptoKeys/k",
        "persistent_resource_id": "pool-1",
        "strategy": "FLEX_START",
        "max_wait_duration": "600s",
    }


def test_op_inputs_are_inputs_of_gcpc_custom_training_job_op():
    import google_cloud_pipeline_components as gcpc

    source = Path(gcpc.__file__).parent / "v1" / "custom_job" / "component.py"
    tree = ast.parse(source.read_text())
    func = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "custom_training_job"
    )
    names = [a.arg for a in func.args.args]
    assert set(full_job().op_inputs()) <= set(names)
    assert {"display_name", "project", "location"}.isdisjoint(full_job().op_inputs())


def test_trailing_pools_omitted_middle_pools_empty():
    job = CustomJobSpec(primary=pool(), evaluators=pool(replica_count=3))
    assert [bool(p) for p in job.worker_pool_specs()] == [True, False, False, True]
    assert len(CustomJobSpec(primary=pool(), workers=pool()).worker_pool_specs()) == 2


def test_reservation_affinity_payload():
    affinity = ReservationAffinity(
        "SPECIFIC_RESERVATION", "compute.googleapis.com/reservation-name", ["projects/p/r/x"]
    )
    spec = MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 1, affinity)
    assert spec.to_dict() == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1,
        "reservation_affinity": {
            "reservation_affinity_type": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": ["projects/p/r/x"],
        },
    }
    CustomJobSpec(primary=pool(machine_spec=spec))  # accepted by the proto too


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3.5s", "3.5s"),
        (3600, "3600s"),
        (timedelta(hours=1), "3600s"),
        (timedelta(seconds=1, milliseconds=500), "1.5s"),
        (timedelta(microseconds=1), "0.000001s"),
    ],
)
def test_durations_normalised(value, expected):
    assert Scheduling(timeout=value).timeout == expected


def test_spot_and_deprecated_strategy_aliases_accepted():
    for strategy in ("SPOT", "LOW_COST", "ON_DEMAND"):
        assert CustomJobSpec(primary=pool(), scheduling=Scheduling(strategy=strategy))


def test_specs_are_frozen_and_hashable():
    job = full_job()
    assert job == full_job()
    assert hash(job) == hash(full_job())
    with pytest.raises(AttributeError):
        job.network = ""  # type: ignore[misc]


# --- tables kept equal to the installed protos --------------------------------------------------


def test_tables_match_aiplatform_v1_enums():
    from google.cloud import aiplatform_v1

    accelerators = {t.name for t in aiplatform_v1.AcceleratorType}
    assert accelerators == {
        "ACCELERATOR_TYPE_UNSPECIFIED",
        *ACCELERATOR_TYPES,
        *RETIRED_ACCELERATOR_TYPES,
    }
    assert {s.name for s in aiplatform_v1.Scheduling.Strategy} == set(STRATEGIES)


def test_import_does_not_load_aiplatform():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import components.specs"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "google.cloud.aiplatform" not in out.stderr
    assert "vtp.components.specs" in out.stderr


# --- one refusal per rule -----------------------------------------------------------------------

INVALID = {
    "primary replica_count != 1": (
        lambda: CustomJobSpec(primary=pool(replica_count=3)),
        "worker_pool_specs[0].replica_count",
        "3",
        "must be 1 (the primary pool)",
    ),
    "accelerator count without type": (
        lambda: MachineSpec(accelerator_count=2),
        "machine_spec.accelerator_count",
        "2",
        "must be 0 when accelerator_type is not set",
    ),
    "unknown accelerator": (
        lambda: MachineSpec(accelerator_type="NVIDIA_TESLA_X9", accelerator_count=1),
        "machine_spec.accelerator_type",
        "'NVIDIA_TESLA_X9'",
        "NVIDIA_TESLA_T4, NVIDIA_TESLA_A100",
    ),
    "type with zero count": (
        lambda: MachineSpec(accelerator_type="NVIDIA_TESLA_T4"),
        "machine_spec.accelerator_count",
        "0",
        "must be >= 1 when accelerator_type is set",
    ),
    "a2 machine with wrong GPU": (
        lambda: MachineSpec("a2-highgpu-1g", "NVIDIA_L4", 1),
        "machine_spec.accelerator_type",
        "'NVIDIA_L4'",
        "must be NVIDIA_TESLA_A100 for machine_type a2-highgpu-1g",
    ),
    "a2 machine with wrong GPU count": (
        lambda: MachineSpec("a2-ultragpu-4g", "NVIDIA_A100_80GB", 8),
        "machine_spec.accelerator_count",
        "8",
        "must be 4 for machine_type a2-ultragpu-4g",
    ),
    "g2 machine without its GPU": (
        lambda: MachineSpec("g2-standard-24"),
        "machine_spec.accelerator_type",
        "None",
        "must be NVIDIA_L4 for machine_type g2-standard-24",
    ),
    "a3 size that does not exist": (
        lambda: MachineSpec("a3-highgpu-3g", "NVIDIA_H100_80GB", 3),
        "machine_spec.machine_type",
        "'a3-highgpu-3g'",
        "a3-highgpu-1g, a3-highgpu-2g, a3-highgpu-4g, a3-highgpu-8g",
    ),
    "negative disk size": (
        lambda: DiskSpec(boot_disk_size_gb=-10),
        "disk_spec.boot_disk_size_gb",
        "-10",
        "must be an integer from 100 to 64000",
    ),
    "zero disk size": (
        lambda: DiskSpec(boot_disk_size_gb=0),
        "disk_spec.boot_disk_size_gb",
        "0",
        "must be an integer from 100 to 64000",
    ),
    "unknown disk type": (
        lambda: DiskSpec(boot_disk_type="pd-fast"),
        "disk_spec.boot_disk_type",
        "'pd-fast'",
        "pd-ssd, pd-standard, hyperdisk-balanced",
    ),
    "both container and python package": (
        lambda: WorkerPoolSpec(
            MachineSpec(),
            container_spec=ContainerSpec(IMAGE),
            python_package_spec=PythonPackageSpec(IMAGE, ["gs://b/p.tar.gz"], "m"),
        ),
        "worker_pool_spec",
        "'both'",
        "must set exactly one of container_spec and python_package_spec",
    ),
    "neither container nor python package": (
        lambda: WorkerPoolSpec(MachineSpec()),
        "worker_pool_spec",
        "'neither'",
        "must set exactly one of container_spec and python_package_spec",
    ),
    "empty image URI": (
        lambda: ContainerSpec(""),
        "container_spec.image_uri",
        "''",
        "must be a non-empty string",
    ),
    "timeout 1h": (
        lambda: Scheduling(timeout="1h"),
        "scheduling.timeout",
        "'1h'",
        'must be a protobuf Duration string such as "3600s"',
    ),
    "timeout abc": (
        lambda: Scheduling(timeout="abc"),
        "scheduling.timeout",
        "'abc'",
        'must be a protobuf Duration string such as "3600s"',
    ),
    "timeout -5": (
        lambda: Scheduling(timeout=-5),
        "scheduling.timeout",
        "-5",
        "> 0",
    ),
    "unknown strategy": (
        lambda: Scheduling(strategy="CHEAP"),
        "scheduling.strategy",
        "'CHEAP'",
        "STANDARD, SPOT, FLEX_START",
    ),
    "max_wait_duration with STANDARD": (
        lambda: Scheduling(max_wait_duration="3600s"),
        "scheduling.max_wait_duration",
        "'3600s'",
        "must be unset unless strategy is FLEX_START (strategy is STANDARD)",
    ),
    "bad label key": (
        lambda: CustomJobSpec(primary=pool(), labels={"Team": "ml"}),
        "labels key",
        "'Team'",
        "must start with a lowercase letter",
    ),
    "bad service account": (
        lambda: CustomJobSpec(primary=pool(), service_account="trainer"),
        "service_account",
        "'trainer'",
        "must be a service account email",
    ),
    "bad network": (
        lambda: CustomJobSpec(primary=pool(), network="projects/p/global/networks/vpc"),
        "network",
        "'projects/p/global/networks/vpc'",
        "must be projects/{project_number}/global/networks/{network}",
    ),
    "base_output_directory not gs://": (
        lambda: CustomJobSpec(primary=pool(), base_output_directory="/tmp/out"),
        "base_output_directory",
        "'/tmp/out'",
        "must be a gs://bucket[/path] URI or empty",
    ),
    "reserved_ip_ranges without network": (
        lambda: CustomJobSpec(primary=pool(), reserved_ip_ranges=["r1"]),
        "reserved_ip_ranges",
        "['r1']",
        "require network to be set",
    ),
    "bad CMEK key": (
        lambda: CustomJobSpec(primary=pool(), encryption_spec_key_name="k"),
        "encryption_spec_key_name",
        "'k'",
        "keyRings/{ring}/cryptoKeys/{key}",
    ),
}


@pytest.mark.parametrize(("build", "field", "value", "allowed"), INVALID.values(), ids=INVALID)
def test_invalid_spec_refused(build, field, value, allowed):
    with pytest.raises(SpecError) as info:
        build()
    message = str(info.value)
    assert info.value.field == field
    assert message.startswith(f"{field} ")
    assert f"got {value}" in message
    assert allowed in message


# --- parsing dicts back -------------------------------------------------------------------------


def test_round_trip_through_dicts():
    job = full_job()
    assert parse_worker_pool_specs(job.worker_pool_specs()) == [
        job.primary,
        None,
        job.parameter_servers,
    ]


def test_parse_kfp_shaped_dicts_with_floats_and_camel_case():
    raw = [
        {
            "machineSpec": {
                "machineType": "g2-standard-24",
                "acceleratorType": "NVIDIA_L4",
                "acceleratorCount": 2.0,
            },
            "replicaCount": 1.0,
            "containerSpec": {"imageUri": IMAGE, "args": ["--x=1"], "env": [{"name": "A"}]},
            "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 250.0},
        },
        {},
        {},
        {
            "machine_spec": {"machine_type": "n1-standard-4"},
            "replica_count": "2",
            "container_spec": {"image_uri": IMAGE},
        },
    ]
    validate_worker_pool_specs(raw)
    assert parse_worker_pool_specs(raw) == [
        WorkerPoolSpec(
            MachineSpec("g2-standard-24", "NVIDIA_L4", 2),
            ContainerSpec(IMAGE, args=["--x=1"], env={"A": ""}),
            disk_spec=DiskSpec("pd-ssd", 250),
        ),
        None,
        None,
        pool(replica_count=2),
    ]
    assert worker_pool_from_dict({}, 1) is None


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ([{}], "worker_pool_specs[0]", "must be set (the primary pool), got {}"),
        (
            [{**PS_DICT, "replica_count": 3.0}],
            "worker_pool_specs[0].replica_count",
            "must be 1 (the primary pool), got 3",
        ),
        (
            [PRIMARY_DICT, {**PS_DICT, "replica_count": 1.5}],
            "worker_pool_specs[1].replica_count",
            "must be an integer, got 1.5",
        ),
        (
            [PRIMARY_DICT, {**PS_DICT, "disk_spec": {"boot_disk_size_gb": 0.0}}],
            "worker_pool_specs[1].disk_spec.boot_disk_size_gb",
            "must be an integer from 100 to 64000, got 0",
        ),
        (
            [{**PRIMARY_DICT, "python_package_spec": PS_DICT["python_package_spec"]}],
            "worker_pool_specs[0]",
            "must set exactly one of container_spec and python_package_spec, got 'both'",
        ),
        (
            [{**PRIMARY_DICT, "tpuTopology": "2x2"}],
            "worker_pool_specs[0]",
            "fields must be among machine_spec, replica_count",
        ),
        ([PRIMARY_DICT] * 5, "worker_pool_specs", "must hold 1 to 4 pools, got '5 pools'"),
    ],
)
def test_parse_refusals_name_the_pool(raw, field, message):
    with pytest.raises(SpecError) as info:
        parse_worker_pool_specs(raw)
    assert info.value.field == field
    assert message in str(info.value)


# --- through the aiplatform_v1 proto ------------------------------------------------------------


def test_validate_worker_pool_specs_uses_the_proto():
    raw = [{**PRIMARY_DICT, "container_spec": {"image_uri": IMAGE, "entrypoint": ["sh"]}}]
    with pytest.raises(SpecError) as info:
        validate_worker_pool_specs(raw)
    assert info.value.field == "worker_pool_specs[0].container_spec.entrypoint"
    assert str(info.value) == (
        "worker_pool_specs[0].container_spec.entrypoint must be accepted by "
        "google.cloud.aiplatform.v1.WorkerPoolSpec (Message type "
        '"google.cloud.aiplatform.v1.ContainerSpec" has no field named "entrypoint"; '
        "fields: image_uri, command, args, env), got ['sh']"
    )


def test_validate_rejects_what_only_the_proto_knows():
    too_long = "315576000001s"  # a well-formed Duration beyond the proto's range
    with pytest.raises(SpecError) as info:
        CustomJobSpec(primary=pool(), scheduling=Scheduling(timeout=too_long))
    assert info.value.field == "scheduling.timeout"
    assert "google.cloud.aiplatform.v1.CustomJob" in str(info.value)
    assert f"got {too_long!r}" in str(info.value)

    huge = MachineSpec("cloud-tpu", "TPU_V3", 2**31)  # int32 overflow (TPU Pods: 32 or more)
    with pytest.raises(SpecError) as info:
        CustomJobSpec(primary=pool(machine_spec=huge))
    assert info.value.field == "worker_pool_specs[0].machine_spec.accelerator_count"
    assert "Value out of range" in str(info.value)


# --- convenience --------------------------------------------------------------------------------


def test_with_args_replaces_earlier_flag_values():
    base = pool(container_spec=ContainerSpec(IMAGE, args=["--lr=0.1", "--epochs=3", "--v"]))
    tuned = base.with_args(["--lr=0.01", "--depth=4"])
    assert tuned.container_spec.args == ("--epochs=3", "--v", "--lr=0.01", "--depth=4")
    assert base.container_spec.args == ("--lr=0.1", "--epochs=3", "--v")


def test_with_args_and_env_on_python_package():
    spec = PythonPackageSpec(IMAGE, ["gs://b/p.tar.gz"], "t", args=["--a=1"], env={"A": "1"})
    base = pool(python_package_spec=spec)
    changed = base.with_args(["--a=2"]).with_env({"B": "2", "A": "3"})
    assert changed.to_dict()["python_package_spec"] == {
        "executor_image_uri": IMAGE,
        "package_uris": ["gs://b/p.tar.gz"],
        "python_module": "t",
        "args": ["--a=2"],
        "env": [{"name": "A", "value": "3"}, {"name": "B", "value": "2"}],
    }


def test_op_inputs_refuses_disable_retries():
    job = CustomJobSpec(primary=pool(), scheduling=Scheduling(disable_retries=True))
    assert job.to_custom_job("x")["job_spec"]["scheduling"]["disable_retries"] is True
    with pytest.raises(SpecError, match=r"scheduling.disable_retries must be False"):
        job.op_inputs()
