"""Distributed layouts: builders, the layout rules on raw payloads, GCPC's launcher, local runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from vtp.components.specs import (
    REDUCTION_SERVER_IMAGE,
    REDUCTION_SERVER_IMAGES,
    ContainerSpec,
    CustomJobSpec,
    MachineSpec,
    PythonPackageSpec,
    Scheduling,
    WorkerPoolSpec,
    check_launcher_layout,
    distributed_job,
    is_reduction_server_image,
    multi_worker_job,
    parameter_server_job,
    reduction_server_job,
    reduction_server_pool,
    validate_layout,
    validate_worker_pool_specs,
)
from vtp.errors import SpecError
from vtp.local.executor import LocalJob, run_local_job

IMAGE = "us-docker.pkg.dev/p/r/trainer:1"
EVAL_IMAGE = "us-docker.pkg.dev/p/r/evaluator:1"
T4 = MachineSpec("n1-standard-8", "NVIDIA_TESLA_T4", 1)
V100X8 = MachineSpec("n1-highmem-96", "NVIDIA_TESLA_V100", 8)
CPU = MachineSpec("n1-standard-4")


def pool(machine: MachineSpec = T4, replicas: int = 1, image: str = IMAGE) -> WorkerPoolSpec:
    container = ContainerSpec(image, args=["--epochs=3"])
    return WorkerPoolSpec(machine, container, replica_count=replicas)


def as_dict(machine: MachineSpec, replicas: int, image: str = IMAGE) -> dict:
    return pool(machine, replicas, image).to_dict()


REDUCERS = {
    "machine_spec": {"machine_type": "n1-highcpu-16"},
    "replica_count": 4,
    "container_spec": {"image_uri": REDUCTION_SERVER_IMAGE},
}


def refused(build, field: str, message: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        build()
    assert info.value.field == field, str(info.value)
    assert message in str(info.value), str(info.value)
    return info.value


# --- builders: exact payloads -------------------------------------------------------------------


def test_multi_worker_job_copies_the_primary():
    job = multi_worker_job(pool(), workers=2)
    assert isinstance(job, CustomJobSpec)
    assert job.worker_pool_specs() == [as_dict(T4, 1), as_dict(T4, 2)]
    inputs = job.op_inputs()
    assert inputs["worker_pool_specs"] == job.worker_pool_specs()
    validate_worker_pool_specs(inputs["worker_pool_specs"])
    check_launcher_layout(inputs["worker_pool_specs"])


def test_multi_worker_job_with_workers_of_their_own_and_job_fields():
    workers = pool(CPU, 3, EVAL_IMAGE)
    job = multi_worker_job(
        pool(),
        workers,
        scheduling=Scheduling(timeout=3600, strategy="SPOT"),
        base_output_directory="gs://b/out",
    )
    assert job.worker_pool_specs() == [as_dict(T4, 1), as_dict(CPU, 3, EVAL_IMAGE)]
    custom_job = job.to_custom_job("mw")["job_spec"]
    assert custom_job["scheduling"]["strategy"] == "SPOT"
    assert custom_job["base_output_directory"] == {"output_uri_prefix": "gs://b/out"}


def test_parameter_server_job():
    ps = pool(MachineSpec("n1-highmem-8"), 2)
    job = parameter_server_job(pool(CPU), workers=3, parameter_servers=ps)
    assert job.worker_pool_specs() == [
        as_dict(CPU, 1),
        as_dict(CPU, 3),
        as_dict(MachineSpec("n1-highmem-8"), 2),
    ]
    copies = parameter_server_job(pool(CPU), workers=1, parameter_servers=2)
    assert copies.worker_pool_specs()[2] == as_dict(CPU, 2)


def test_reduction_server_job_follows_the_vertex_example():
    # "Train using Reduction Server": 1 + 4 n1-highmem-96 nodes with 8 V100 each, 16 reducers.
    job = reduction_server_job(pool(V100X8), workers=4, reducers=16)
    assert job.worker_pool_specs() == [
        as_dict(V100X8, 1),
        as_dict(V100X8, 4),
        {**REDUCERS, "replica_count": 16},
    ]
    validate_worker_pool_specs(job.worker_pool_specs())


def test_reduction_server_pool_in_each_region_and_any_tag():
    assert reduction_server_pool(4).to_dict() == REDUCERS
    for image in REDUCTION_SERVER_IMAGES:
        reducers = reduction_server_pool(2, machine_type="n2-highcpu-16", image_uri=image)
        job = reduction_server_job(pool(), workers=1, reducers=reducers)
        assert job.worker_pool_specs()[2]["container_spec"]["image_uri"] == image
    tagged = "asia-docker.pkg.dev/vertex-ai-restricted/training/reductionserver:v1.2"
    assert is_reduction_server_image(tagged)
    assert is_reduction_server_image(REDUCTION_SERVER_IMAGE.replace(":latest", ""))
    assert not is_reduction_server_image("gcr.io/p/reductionserver:latest")
    assert not is_reduction_server_image(IMAGE)


def test_evaluators_with_and_without_workers():
    evaluator = pool(CPU, 1, EVAL_IMAGE)
    alone = distributed_job(pool(), evaluators=evaluator)
    assert alone.worker_pool_specs() == [as_dict(T4, 1), {}, {}, as_dict(CPU, 1, EVAL_IMAGE)]
    with_workers = multi_worker_job(pool(), workers=2, evaluators=1)
    assert with_workers.worker_pool_specs() == [as_dict(T4, 1), as_dict(T4, 2), {}, as_dict(T4, 1)]
    full = parameter_server_job(pool(CPU), 2, 1, evaluators=evaluator)
    assert [p["replica_count"] for p in full.worker_pool_specs()] == [1, 2, 1, 1]
    for job in (alone, with_workers, full):
        validate_worker_pool_specs(job.worker_pool_specs())


def test_layouts_vertex_documents_pass_the_raw_checks():
    # "Specify additional worker pools": a primary and parameter servers, pool 1 left empty.
    validate_layout([as_dict(CPU, 1), {}, as_dict(CPU, 1)])
    # camelCase, floats for ints, as a compiled payload or a KFP parameter hands them over.
    raw = json.loads(json.dumps(reduction_server_job(pool(), 2, 4).worker_pool_specs()))
    raw[1]["replicaCount"] = float(raw[1].pop("replica_count"))
    raw[2]["containerSpec"] = raw[2].pop("container_spec")
    validate_layout(raw)
    validate_layout([as_dict(T4, 1)])


# --- GCPC's launcher drops {} pools -------------------------------------------------------------


def test_gcpc_launcher_shifts_pools_after_a_gap_and_the_check_refuses_it():
    from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import json_util

    evaluator = pool(CPU, 1, EVAL_IMAGE)
    specs = distributed_job(pool(), evaluators=evaluator).op_inputs()["worker_pool_specs"]
    sent = json_util.recursive_remove_empty({"worker_pool_specs": specs})["worker_pool_specs"]
    assert sent == [as_dict(T4, 1), as_dict(CPU, 1, EVAL_IMAGE)], "evaluators became workers"
    err = refused(
        lambda: check_launcher_layout(specs),
        "worker_pool_specs[1]",
        "must not be an unused pool before worker_pool_specs[3] (evaluators) with GCPC's "
        "CustomTrainingJobOp: its launcher removes empty pools, so pool 3 would run as workers",
    )
    assert err.value == {}
    ps_only = [as_dict(CPU, 1), {}, as_dict(CPU, 2)]
    refused(
        lambda: check_launcher_layout(ps_only),
        "worker_pool_specs[1]",
        "so pool 2 would run as workers",
    )
    no_gap = multi_worker_job(pool(), 2, evaluators=1).worker_pool_specs()
    refused(lambda: check_launcher_layout(no_gap), "worker_pool_specs[2]", "would run as parameter")
    check_launcher_layout(reduction_server_job(pool(), 1, 1).worker_pool_specs())
    check_launcher_layout([as_dict(T4, 1), {}])  # a trailing {} moves nothing


# --- refusals -----------------------------------------------------------------------------------

RS_ON_GPU = WorkerPoolSpec(T4, ContainerSpec(REDUCTION_SERVER_IMAGE), replica_count=2)

BUILDER_REFUSALS = {
    "primary with 2 replicas": (
        lambda: multi_worker_job(pool(replicas=2), 2),
        "worker_pool_specs[0].replica_count",
        "must be 1 (the primary pool), got 2",
    ),
    "multi-worker without workers": (
        lambda: multi_worker_job(pool(), 0),
        "worker_pool_specs[1] (workers)",
        "must be at least 1, got 0",
    ),
    "negative workers": (
        lambda: distributed_job(pool(), workers=-1),
        "worker_pool_specs[1] (workers)",
        "must be an integer >= 0, got -1",
    ),
    "workers as text": (
        lambda: multi_worker_job(pool(), "2"),
        "worker_pool_specs[1] (workers)",
        "must be an integer >= 0, got '2'",
    ),
    "parameter servers without workers (TensorFlow)": (
        lambda: parameter_server_job(pool(CPU), 0, 2),
        "worker_pool_specs[1] (workers)",
        "must be at least 1, got 0",
    ),
    "ParameterServerStrategy without parameter servers": (
        lambda: parameter_server_job(pool(CPU), 2, 0),
        "worker_pool_specs[2] (parameter servers)",
        "must be at least 1, got 0",
    ),
    "both parameter servers and reducers": (
        lambda: distributed_job(pool(), workers=2, parameter_servers=1, reducers=2),
        "worker_pool_specs[2]",
        "must hold parameter servers or a Reduction Server, not both",
    ),
    "Reduction Server without workers": (
        lambda: reduction_server_job(pool(), 0, 2),
        "worker_pool_specs[1]",
        "must hold workers with a Reduction Server (it serves multi-host all-reduce), got {}",
    ),
    "Reduction Server without reducers": (
        lambda: reduction_server_job(pool(), 2, 0),
        "worker_pool_specs[2] (reducers)",
        "must be at least 1, got 0",
    ),
    "Reduction Server with CPU workers": (
        lambda: reduction_server_job(pool(), pool(CPU, 2), 2),
        "worker_pool_specs[1].machine_spec.accelerator_type",
        "must be an NVIDIA GPU with a Reduction Server (NCCL all-reduce between GPU workers), "
        "got None",
    ),
    "Reduction Server with a CPU primary": (
        lambda: reduction_server_job(pool(CPU), pool(T4, 2), 2),
        "worker_pool_specs[0].machine_spec.accelerator_type",
        "must be an NVIDIA GPU with a Reduction Server",
    ),
    "reducers with GPUs": (
        lambda: reduction_server_job(pool(), 2, RS_ON_GPU),
        "worker_pool_specs[2].machine_spec.accelerator_type",
        "must be unset: Reduction Server nodes use no GPUs, got 'NVIDIA_TESLA_T4'",
    ),
    "reducers that are not the Reduction Server": (
        lambda: reduction_server_job(pool(), 2, pool(CPU, 2)),
        "worker_pool_specs[2] (reducers).container_spec.image_uri",
        "must run a Reduction Server image",
    ),
    "Reduction Server image passed as parameter servers": (
        lambda: distributed_job(pool(), workers=1, parameter_servers=reduction_server_pool(2)),
        "worker_pool_specs[2] (parameter servers)",
        "must not run the Reduction Server image (pass it as reducers)",
    ),
    "Reduction Server image as workers": (
        lambda: distributed_job(pool(), workers=reduction_server_pool(2)),
        "worker_pool_specs[1].container_spec.image_uri",
        "must not be the Reduction Server image in pool 1 (workers); it runs in "
        "worker_pool_specs[2]",
    ),
    "Reduction Server image as evaluators": (
        lambda: distributed_job(pool(), evaluators=reduction_server_pool(1)),
        "worker_pool_specs[3].container_spec.image_uri",
        "in pool 3 (evaluators)",
    ),
    "reducer pool of zero replicas": (
        lambda: reduction_server_pool(0),
        "worker_pool_specs[2] (reducers).replica_count",
        "must be an integer >= 1, got 0",
    ),
    "reducer image elsewhere": (
        lambda: reduction_server_pool(2, image_uri="gcr.io/p/reductionserver:latest"),
        "worker_pool_specs[2] (reducers).container_spec.image_uri",
        "must be a Reduction Server image: us-docker.pkg.dev/vertex-ai-restricted/training/"
        "reductionserver:latest, europe-docker",
    ),
    "reducers on a GPU machine type": (
        lambda: reduction_server_pool(2, machine_type="a2-highgpu-1g"),
        "machine_spec.accelerator_type",
        "must be NVIDIA_TESLA_A100 for machine_type a2-highgpu-1g",
    ),
    "TPU VM with copies as workers": (
        lambda: multi_worker_job(pool(MachineSpec("cloud-tpu", "TPU_V3", 8)), 2),
        "worker_pool_specs[1].machine_spec.machine_type",
        "must not be a TPU VM outside the primary pool (a TPU job has one pool), got 'cloud-tpu'",
    ),
    "TPU VM with CPU evaluators": (
        lambda: distributed_job(
            pool(MachineSpec("ct5lp-hightpu-4t", tpu_topology="2x2")), evaluators=pool(CPU)
        ),
        "worker_pool_specs",
        "must hold only the primary pool when it is a TPU VM (one pool, one replica), "
        "got 'pools [0, 3]'",
    ),
    "primary not a pool": (
        lambda: multi_worker_job({"machine_spec": {}}, 1),
        "worker_pool_specs[0] (primary)",
        "must be a WorkerPoolSpec",
    ),
}


@pytest.mark.parametrize(
    ("build", "field", "message"), BUILDER_REFUSALS.values(), ids=BUILDER_REFUSALS
)
def test_builder_refusals(build, field, message):
    refused(build, field, message)


PACKAGE_ON_RS = {
    "machine_spec": {"machine_type": "n1-highcpu-16"},
    "replica_count": 1,
    "python_package_spec": {
        "executor_image_uri": REDUCTION_SERVER_IMAGE,
        "package_uris": ["gs://b/p.tar.gz"],
        "python_module": "trainer.task",
    },
}
TPU_DICT = {
    "machineSpec": {"machineType": "cloud-tpu", "acceleratorType": "TPU_V2", "acceleratorCount": 8},
    "replicaCount": 1,
    "containerSpec": {"imageUri": IMAGE},
}

RAW_REFUSALS = {
    "Reduction Server in pool 1": (
        [as_dict(T4, 1), REDUCERS],
        "worker_pool_specs[1].container_spec.image_uri",
        "must not be the Reduction Server image in pool 1 (workers)",
    ),
    "Reduction Server image as a Python package executor": (
        [as_dict(T4, 1), as_dict(T4, 1), PACKAGE_ON_RS],
        "worker_pool_specs[2].python_package_spec.executor_image_uri",
        "must not be the Reduction Server image (it runs as "
        "worker_pool_specs[2].container_spec.image_uri)",
    ),
    "Reduction Server with CPU workers": (
        [as_dict(T4, 1), as_dict(CPU, 2), REDUCERS],
        "worker_pool_specs[1].machine_spec.accelerator_type",
        "must be an NVIDIA GPU with a Reduction Server",
    ),
    "Reduction Server without workers": (
        [as_dict(T4, 1), {}, REDUCERS],
        "worker_pool_specs[1]",
        "must hold workers with a Reduction Server",
    ),
    "Reduction Server on GPUs": (
        [as_dict(T4, 1), as_dict(T4, 1), RS_ON_GPU.to_dict()],
        "worker_pool_specs[2].machine_spec.accelerator_type",
        "must be unset: Reduction Server nodes use no GPUs",
    ),
    "TPU VM with workers": (
        [TPU_DICT, as_dict(CPU, 2)],
        "worker_pool_specs",
        "must hold only the primary pool when it is a TPU VM",
    ),
    "TPU VM as evaluator": (
        [as_dict(CPU, 1), {}, {}, TPU_DICT],
        "worker_pool_specs[3].machine_spec.machine_type",
        "must not be a TPU VM outside the primary pool",
    ),
    "primary replica_count 2": (
        [as_dict(T4, 2)],
        "worker_pool_specs[0].replica_count",
        "must be 1 (the primary pool), got 2",
    ),
    "bad GPU count in a worker pool": (
        [
            as_dict(T4, 1),
            {**as_dict(T4, 2), "machine_spec": {**T4.to_dict(), "accelerator_count": 3}},
        ],
        "worker_pool_specs[1].machine_spec.accelerator_count",
        "must be one of 1, 2, 4 for NVIDIA_TESLA_T4 on n1-standard-8, got 3",
    ),
}


@pytest.mark.parametrize(("raw", "field", "message"), RAW_REFUSALS.values(), ids=RAW_REFUSALS)
def test_raw_payload_refusals(raw, field, message):
    refused(lambda: validate_layout(raw), field, message)
    refused(lambda: validate_worker_pool_specs(raw), field, message)


def test_validate_worker_pool_specs_checks_the_proto_before_the_layout():
    raw = [as_dict(T4, 1), {**REDUCERS, "replica_count": "many"}]
    refused(
        lambda: validate_worker_pool_specs(raw),
        "worker_pool_specs[1].replica_count",
        "google.cloud.aiplatform.v1.WorkerPoolSpec",
    )


# --- the local twin runs what the builders make -------------------------------------------------

DUMP = """
import json, os, sys
task = json.loads(os.environ["CLUSTER_SPEC"])["task"]
path = os.path.join(sys.argv[1], f"{task['type']}-{task['index']}.json")
with open(path, "w") as f:
    json.dump({"TF_CONFIG": os.environ.get("TF_CONFIG"), "argv": sys.argv[2:]}, f)
"""


def _dump_pool(script: Path, dumps: Path, machine: MachineSpec, replicas: int = 1):
    command = ["python", str(script), str(dumps)]
    container = ContainerSpec(IMAGE, command=command, args=["--x=1"])
    return WorkerPoolSpec(machine, container, replica_count=replicas)


def _run(tmp_path: Path, job: CustomJobSpec) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    result = run_local_job(
        LocalJob("layout", job.op_inputs()["worker_pool_specs"]),
        work_dir=tmp_path / "work",
        gcs_root=tmp_path / "gcs",
        log=lines.append,
        image_commands={},
    )
    assert result.state.name == "SUCCEEDED", lines
    return sorted(r.name for r in result.replicas), lines


def test_parameter_server_layout_runs_locally_with_tf_config_roles(tmp_path):
    script, dumps = tmp_path / "dump.py", tmp_path / "dumps"
    script.write_text(textwrap.dedent(DUMP))
    dumps.mkdir()
    primary = _dump_pool(script, dumps, CPU)
    job = parameter_server_job(primary, workers=2, parameter_servers=1, evaluators=1)
    names, _ = _run(tmp_path, job)
    assert names == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
        "workerpool2-0",
        "workerpool3-0",
    ]
    chief = json.loads((dumps / "workerpool0-0.json").read_text())
    tf_config = json.loads(chief["TF_CONFIG"])
    assert {k: len(v) for k, v in tf_config["cluster"].items()} == {
        "chief": 1,
        "worker": 2,
        "ps": 1,
    }
    assert tf_config["task"] == {"type": "chief", "index": 0} | {
        k: v for k, v in tf_config["task"].items() if k == "trial"
    }
    evaluator = json.loads(json.loads((dumps / "workerpool3-0.json").read_text())["TF_CONFIG"])
    assert evaluator["task"]["type"] == "evaluator"
    assert chief["argv"] == ["--x=1"]


def test_reduction_server_layout_runs_locally_without_the_reducers(tmp_path):
    script, dumps = tmp_path / "dump.py", tmp_path / "dumps"
    script.write_text(textwrap.dedent(DUMP))
    dumps.mkdir()
    job = reduction_server_job(_dump_pool(script, dumps, T4), workers=2, reducers=3)
    names, _ = _run(tmp_path, job)
    assert names == ["workerpool0-0", "workerpool1-0", "workerpool1-1"]
    assert sorted(p.name for p in dumps.iterdir()) == [
        "workerpool0-0.json",
        "workerpool1-0.json",
        "workerpool1-1.json",
    ]


def test_python_package_pools_are_not_mistaken_for_reducers():
    package = PythonPackageSpec(IMAGE, ["gs://b/p.tar.gz"], "trainer.task")
    ps = WorkerPoolSpec(CPU, python_package_spec=package, replica_count=2)
    job = parameter_server_job(pool(CPU), 1, ps)
    assert job.worker_pool_specs()[2]["python_package_spec"]["python_module"] == "trainer.task"
    validate_layout(job.worker_pool_specs())
