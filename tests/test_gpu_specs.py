"""Accelerators per machine type: Vertex training's GPU and TPU tables, accepted and refused."""

from __future__ import annotations

import pytest
from support import vertex_compute_docs as docs

from vtp.cli.main import main
from vtp.components.specs import (
    ACCELERATOR_TYPES,
    GPU_TYPES,
    MACHINE_GPUS,
    N1_GPU_COUNTS,
    TPU_TOPOLOGIES,
    ContainerSpec,
    CustomJobSpec,
    MachineSpec,
    WorkerPoolSpec,
    parse_worker_pool_specs,
    validate_worker_pool_specs,
)
from vtp.components.specs.machines import RETIRED_ACCELERATOR_TYPES
from vtp.errors import SpecError

IMAGE = "us-docker.pkg.dev/p/r/trainer:1"


def job(machine: MachineSpec) -> CustomJobSpec:
    """A one-pool job: building it parses the payload into aiplatform_v1.CustomJob."""
    return CustomJobSpec(primary=WorkerPoolSpec(machine, ContainerSpec(IMAGE)))


def refused(build, field: str, message: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        build()
    assert info.value.field == field
    assert message in str(info.value), str(info.value)
    return info.value


# --- the tables ---------------------------------------------------------------------------------


def test_tables_name_only_enum_values():
    from google.cloud import aiplatform_v1

    enum = {t.name for t in aiplatform_v1.AcceleratorType}
    named = {gpu for gpu, _ in MACHINE_GPUS.values()}
    named |= {gpu for counts in N1_GPU_COUNTS.values() for gpu in counts}
    assert named <= enum
    assert set(GPU_TYPES) == {t for t in ACCELERATOR_TYPES if t.startswith("NVIDIA_")}
    assert set(RETIRED_ACCELERATOR_TYPES) <= enum
    assert not set(RETIRED_ACCELERATOR_TYPES) & set(ACCELERATOR_TYPES)


# Checked against `support.vertex_compute_docs`, the docs' tables transcribed by hand, not
# against the tables under test.


@pytest.mark.parametrize(
    ("machine", "gpu", "count"),
    docs.ACCELERATOR_OPTIMIZED,
    ids=[row[0] for row in docs.ACCELERATOR_OPTIMIZED],
)
def test_accelerator_optimized_machines_take_exactly_their_documented_gpus(machine, gpu, count):
    spec = MachineSpec(machine, gpu, count)
    assert job(spec).worker_pool_specs()[0]["machine_spec"] == {
        "machine_type": machine,
        "accelerator_type": gpu,
        "accelerator_count": count,
    }
    assert spec.gpu_count == count and not spec.is_tpu_vm
    for other in {1, 2, 4, 8, 16} - {count}:
        with pytest.raises(SpecError, match=f"must be {count} for machine_type {machine}"):
            MachineSpec(machine, gpu, other)


def test_vtp_knows_no_accelerator_optimized_machine_the_docs_do_not_list():
    documented = {machine: (gpu, n) for machine, gpu, n in docs.ACCELERATOR_OPTIMIZED}
    assert documented == MACHINE_GPUS


N1_CELLS = [
    (machine, gpu, counts)
    for machine, *columns in docs.N1_ROWS
    for gpu, counts in zip(docs.N1_COLUMNS, columns, strict=True)
]


@pytest.mark.parametrize(("machine", "gpu", "counts"), N1_CELLS)
def test_n1_machines_take_the_documented_counts_and_no_other(machine, gpu, counts):
    for count in (1, 2, 4, 8):
        if count in counts:
            assert MachineSpec(machine, gpu, count).gpu_count == count
        else:
            with pytest.raises(SpecError, match="machine_spec.accelerator_count"):
                MachineSpec(machine, gpu, count)


@pytest.mark.parametrize("machine", docs.N1_WITHOUT_GPUS)
def test_n1_sizes_without_a_gpu_row_take_no_gpu(machine):
    assert MachineSpec(machine).gpu_count == 0
    with pytest.raises(SpecError, match="must be unset for machine_type"):
        MachineSpec(machine, "NVIDIA_TESLA_T4", 1)


def test_gpu_payloads_pass_the_proto_through_raw_dicts():
    raw = [
        {
            "machineSpec": {
                "machineType": "g4-standard-96",
                "acceleratorType": "NVIDIA_RTX_PRO_6000",
                "acceleratorCount": 2.0,
            },
            "replicaCount": 1,
            "containerSpec": {"imageUri": IMAGE},
        },
        {
            "machine_spec": {
                "machine_type": "n1-highmem-96",
                "accelerator_type": "NVIDIA_TESLA_V100",
                "accelerator_count": "8",
            },
            "replica_count": 2,
            "container_spec": {"image_uri": IMAGE},
        },
    ]
    validate_worker_pool_specs(raw)
    primary, workers = parse_worker_pool_specs(raw)
    assert primary.machine_spec == MachineSpec("g4-standard-96", "NVIDIA_RTX_PRO_6000", 2)
    assert workers.machine_spec.gpu_count == 8


@pytest.mark.parametrize(
    "machine",
    ["e2-standard-4", "n2-standard-8", "n2d-standard-8", "n4-highmem-16", "c2-standard-8",
     "c3-standard-8", "m1-ultramem-40", "n1-standard-2", "n1-highcpu-8"],
)  # fmt: skip
def test_cpu_machines_run_without_accelerators(machine):
    spec = MachineSpec(machine)
    assert job(spec).worker_pool_specs()[0]["machine_spec"] == {"machine_type": machine}
    assert spec.gpu_count == 0 and not spec.is_tpu_vm


# --- GPU refusals -------------------------------------------------------------------------------

GPU_REFUSALS = {
    "T4 x3 on n1-standard-4": (
        lambda: MachineSpec("n1-standard-4", "NVIDIA_TESLA_T4", 3),
        "machine_spec.accelerator_count",
        "must be one of 1, 2, 4 for NVIDIA_TESLA_T4 on n1-standard-4, got 3",
    ),
    "T4 x8 on n1-standard-8": (
        lambda: MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 8),
        "machine_spec.accelerator_count",
        "must be one of 1, 2, 4 for NVIDIA_TESLA_T4 on n1-standard-8, got 8",
    ),
    "one V100 backs too few vCPUs for n1-standard-16": (
        lambda: MachineSpec("n1-standard-16", "NVIDIA_TESLA_V100", 1),
        "machine_spec.accelerator_count",
        "must be one of 2, 4, 8 for NVIDIA_TESLA_V100 on n1-standard-16, got 1",
    ),
    "one T4 on n1-standard-32": (
        lambda: MachineSpec("n1-standard-32", "NVIDIA_TESLA_T4", 1),
        "machine_spec.accelerator_count",
        "must be one of 2, 4 for NVIDIA_TESLA_T4 on n1-standard-32, got 1",
    ),
    "4 V100 on n1-highmem-96": (
        lambda: MachineSpec("n1-highmem-96", "NVIDIA_TESLA_V100", 4),
        "machine_spec.accelerator_count",
        "must be one of 8 for NVIDIA_TESLA_V100 on n1-highmem-96, got 4",
    ),
    "L4 on an N1 machine": (
        lambda: MachineSpec("n1-standard-8", "NVIDIA_L4", 1),
        "machine_spec.accelerator_type",
        "must be one of NVIDIA_TESLA_P4, NVIDIA_TESLA_T4, NVIDIA_TESLA_V100 or unset for "
        "machine_type n1-standard-8, got 'NVIDIA_L4'",
    ),
    "GPU on an N1 size without GPUs": (
        lambda: MachineSpec("n1-standard-2", "NVIDIA_TESLA_T4", 1),
        "machine_spec.accelerator_type",
        "must be unset for machine_type n1-standard-2 (NVIDIA_TESLA_T4 attaches to N1 machine "
        "types: n1-standard-4 to -96, n1-highmem-2 to -96 and n1-highcpu-16 to -96)",
    ),
    "T4 on e2": (
        lambda: MachineSpec("e2-standard-8", "NVIDIA_TESLA_T4", 1),
        "machine_spec.accelerator_type",
        "must be unset for machine_type e2-standard-8",
    ),
    "A100 on n2": (
        lambda: MachineSpec("n2-standard-16", "NVIDIA_TESLA_A100", 1),
        "machine_spec.accelerator_type",
        "must be unset for machine_type n2-standard-16 (NVIDIA_TESLA_A100 comes with machine "
        "types a2-highgpu-*, a2-megagpu-16g)",
    ),
    "L4 on c2": (
        lambda: MachineSpec("c2-standard-8", "NVIDIA_L4", 1),
        "machine_spec.accelerator_type",
        "(NVIDIA_L4 comes with machine types g2-standard-*)",
    ),
    "H100 on m1": (
        lambda: MachineSpec("m1-ultramem-40", "NVIDIA_H100_MEGA_80GB", 8),
        "machine_spec.accelerator_type",
        "NVIDIA_H100_MEGA_80GB comes with machine types a3-megagpu-8g",
    ),
    "P100 is retired": (
        lambda: MachineSpec("n1-standard-8", "NVIDIA_TESLA_P100", 1),
        "machine_spec.accelerator_type",
        "must not be a retired accelerator: NVIDIA_TESLA_P100 reached end of support on 2026-09-15",
    ),
    "K80 is retired": (
        lambda: MachineSpec("n1-standard-8", "NVIDIA_TESLA_K80", 1),
        "machine_spec.accelerator_type",
        "NVIDIA_TESLA_K80 reached end of support",
    ),
    "g4 with too few GPUs": (
        lambda: MachineSpec("g4-standard-192", "NVIDIA_RTX_PRO_6000", 2),
        "machine_spec.accelerator_count",
        "must be 4 for machine_type g4-standard-192, got 2",
    ),
    "g4 size that does not exist": (
        lambda: MachineSpec("g4-standard-64", "NVIDIA_RTX_PRO_6000", 1),
        "machine_spec.machine_type",
        "must be one of g4-standard-48, g4-standard-96, g4-standard-192, g4-standard-384",
    ),
    "a4 without its GPUs": (
        lambda: MachineSpec("a4-highgpu-8g"),
        "machine_spec.accelerator_type",
        "must be NVIDIA_B200 for machine_type a4-highgpu-8g, got None",
    ),
}


@pytest.mark.parametrize(("build", "field", "message"), GPU_REFUSALS.values(), ids=GPU_REFUSALS)
def test_gpu_refusals(build, field, message):
    refused(build, field, message)


def test_refusal_in_a_raw_payload_names_the_pool():
    raw = [
        {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
         "container_spec": {"image_uri": IMAGE}},
        {"machine_spec": {"machine_type": "n1-standard-32", "accelerator_type": "NVIDIA_TESLA_V100",
                          "accelerator_count": 2.0},
         "replica_count": 2, "container_spec": {"image_uri": IMAGE}},
    ]  # fmt: skip
    err = refused(
        lambda: parse_worker_pool_specs(raw),
        "worker_pool_specs[1].machine_spec.accelerator_count",
        "must be one of 4, 8 for NVIDIA_TESLA_V100 on n1-standard-32, got 2",
    )
    assert str(err) == (
        "worker_pool_specs[1].machine_spec.accelerator_count must be one of 4, 8 for "
        "NVIDIA_TESLA_V100 on n1-standard-32, got 2"
    )


def test_vtp_run_refuses_a_bad_gpu_count_before_running(tmp_path, capsys):
    home = tmp_path / "home"
    argv = ["run", "training", "--local", "--home", str(home), "--param", "project=p"]
    gpu = ["--param", "accelerator_type=NVIDIA_TESLA_T4", "--param", "accelerator_count=3"]
    assert main([*argv, *gpu]) == 2
    err = capsys.readouterr().err
    assert "machine_spec.accelerator_count must be one of 1, 2, 4 for NVIDIA_TESLA_T4 on " in err
    assert not home.exists(), "nothing may run before the payload is valid"


# --- TPUs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "count"), [("TPU_V2", 8), ("TPU_V2", 32), ("TPU_V2", 128), ("TPU_V3", 8),
                        ("TPU_V3", 32), ("TPU_V3", 48)],
)  # fmt: skip
def test_cloud_tpu_takes_v2_and_v3(kind, count):
    spec = MachineSpec("cloud-tpu", kind, count)
    assert job(spec).worker_pool_specs()[0]["machine_spec"]["accelerator_type"] == kind
    assert spec.is_tpu_vm and spec.gpu_count == 0


@pytest.mark.parametrize(
    ("machine", "topology"),
    [(m, t) for m, topologies in TPU_TOPOLOGIES.items() for t in topologies],
)
def test_tpu_v5e_v6e_7x_machines_take_their_topologies(machine, topology):
    spec = MachineSpec(machine, tpu_topology=topology)
    assert spec.is_tpu_vm
    assert spec.to_dict() == {"machine_type": machine, "tpu_topology": topology}


def test_tpu_topology_passes_the_proto_and_round_trips():
    spec = MachineSpec("ct5lp-hightpu-4t", "TPU_V5_LITEPOD", 4, tpu_topology="4x4")
    payload = job(spec).worker_pool_specs()  # parsed into aiplatform_v1.CustomJob when built
    assert payload[0]["machine_spec"]["tpu_topology"] == "4x4"
    raw = [{**payload[0], "machineSpec": {"machineType": "ct5lp-hightpu-1t", "tpuTopology": "1x1"}}]
    del raw[0]["machine_spec"]
    validate_worker_pool_specs(raw)
    assert parse_worker_pool_specs(raw)[0].machine_spec == MachineSpec(
        "ct5lp-hightpu-1t", tpu_topology="1x1"
    )


TPU_REFUSALS = {
    "cloud-tpu without an accelerator": (
        lambda: MachineSpec("cloud-tpu"),
        "machine_spec.accelerator_type",
        "must be TPU_V2 or TPU_V3 for machine_type cloud-tpu, got None",
    ),
    "cloud-tpu with a GPU": (
        lambda: MachineSpec("cloud-tpu", "NVIDIA_TESLA_T4", 1),
        "machine_spec.accelerator_type",
        "must be TPU_V2 or TPU_V3 for machine_type cloud-tpu",
    ),
    "TPU_V2 x16": (
        lambda: MachineSpec("cloud-tpu", "TPU_V2", 16),
        "machine_spec.accelerator_count",
        "must be 8 (one TPU) or a multiple of 32 (a TPU Pod) for TPU_V2, got 16",
    ),
    "TPU_V2 x40": (
        lambda: MachineSpec("cloud-tpu", "TPU_V2", 40),
        "machine_spec.accelerator_count",
        "a multiple of 32",
    ),
    "TPU_V3 x16": (
        lambda: MachineSpec("cloud-tpu", "TPU_V3", 16),
        "machine_spec.accelerator_count",
        "must be 8 (one TPU) or 32 or more (a TPU Pod) for TPU_V3, got 16",
    ),
    "TPU_V2 on an E2 machine": (
        lambda: MachineSpec("e2-standard-8", "TPU_V2", 8),
        "machine_spec.accelerator_type",
        "(TPU_V2 needs machine_type cloud-tpu)",
    ),
    "TPU_V4_POD is documented nowhere for training": (
        lambda: MachineSpec("n2-standard-8", "TPU_V4_POD", 4),
        "machine_spec.accelerator_type",
        "(Vertex training documents no machine type for TPU_V4_POD)",
    ),
    "TPU_V5_LITEPOD off a ct5lp machine": (
        lambda: MachineSpec("ct6e-standard-4t", "TPU_V5_LITEPOD", 4, tpu_topology="2x2"),
        "machine_spec.accelerator_type",
        "(TPU_V5_LITEPOD needs a ct5lp-hightpu machine type)",
    ),
    "ct5lp with a GPU": (
        lambda: MachineSpec("ct5lp-hightpu-4t", "NVIDIA_L4", 1, tpu_topology="2x2"),
        "machine_spec.accelerator_type",
        "must be TPU_V5_LITEPOD or unset for ct5lp-hightpu-4t",
    ),
    "ct5lp chip count": (
        lambda: MachineSpec("ct5lp-hightpu-4t", "TPU_V5_LITEPOD", 8, tpu_topology="2x4"),
        "machine_spec.accelerator_count",
        "must be 4 (the TPU chips of ct5lp-hightpu-4t), got 8",
    ),
    "ct5lp without a topology": (
        lambda: MachineSpec("ct5lp-hightpu-4t"),
        "machine_spec.tpu_topology",
        "must be one of 2x2, 2x4, 4x4, 4x8, 8x8, 8x16, 16x16 for ct5lp-hightpu-4t, got ''",
    ),
    "ct5lp-hightpu-8t topology": (
        lambda: MachineSpec("ct5lp-hightpu-8t", tpu_topology="2x2"),
        "machine_spec.tpu_topology",
        "must be one of 2x4 for ct5lp-hightpu-8t, got '2x2'",
    ),
    "tpu7x with a 2-D topology": (
        lambda: MachineSpec("tpu7x-standard-4t", tpu_topology="2x2"),
        "machine_spec.tpu_topology",
        "2x2x1, 2x2x2",
    ),
    "ct5lp size that does not exist": (
        lambda: MachineSpec("ct5lp-hightpu-2t", tpu_topology="1x1"),
        "machine_spec.machine_type",
        "must be one of ct5lp-hightpu-1t, ct5lp-hightpu-4t, ct5lp-hightpu-8t",
    ),
    "topology on a GPU machine": (
        lambda: MachineSpec("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1, tpu_topology="2x2"),
        "machine_spec.tpu_topology",
        "must be empty for machine_type a2-highgpu-1g (not a TPU v5e/v6e/7x VM), got '2x2'",
    ),
    "topology not a string": (
        lambda: MachineSpec("ct6e-standard-1t", tpu_topology=None),
        "machine_spec.tpu_topology",
        "must be a string",
    ),
}


@pytest.mark.parametrize(("build", "field", "message"), TPU_REFUSALS.values(), ids=TPU_REFUSALS)
def test_tpu_refusals(build, field, message):
    refused(build, field, message)
