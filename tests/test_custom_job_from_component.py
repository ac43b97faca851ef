"""Any component as a custom job step: GCPC's wrapper, its options checked when the pipeline
is defined, and the compiled step run locally on the custom-job twin.

Real parts only: GCPC's own `create_custom_training_job_from_component`, the KFP compiler, the
local orchestrator running GCPC's custom job launcher task on the twin, which runs the wrapped
component as the job's replica (with the executor input GCPC puts in the payload).
"""

import inspect
import json
import types
import typing

import pytest
import yaml
from google_cloud_pipeline_components.v1.custom_job import (
    create_custom_training_job_from_component,
)
from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output

from vtp.components.specs import CustomJobSpec, parse_worker_pool_specs
from vtp.components.targets import VERTEX
from vtp.errors import SpecError
from vtp.home import LocalHome

TARGETS = [VERTEX]
IMAGE = "python:3.11"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def scale(n: int, factor: float, report: Output[Dataset]) -> float:
    """Multiplies; writes the environment it saw."""
    import json
    import os

    seen = ("MY_FLAG", "AIP_MODEL_DIR", "CLUSTER_SPEC", "CUDA_VISIBLE_DEVICES")
    with open(report.path, "w") as f:
        json.dump({name: os.environ.get(name) for name in seen}, f)
    return n * factor


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def collect(report: Input[Dataset], value: float, gcp_resources: str) -> str:
    import json

    with open(report.path) as f:
        seen = json.load(f)
    return json.dumps({"seen": seen, "value": value, "gcp_resources": gcp_resources})


@dsl.container_component
def echo(text: str):
    return dsl.ContainerSpec(image="alpine:3", command=["echo"], args=[text])


GPU_OPTIONS = {
    "machine_type": "n1-standard-8",
    "accelerator_type": "NVIDIA_TESLA_T4",
    "accelerator_count": 2,
    "replica_count": 3,
    "boot_disk_type": "pd-standard",
    "boot_disk_size_gb": 200,
    "env": [{"name": "MY_FLAG", "value": "on"}],
    "nfs_mounts": [{"server": "10.0.0.2", "path": "/exports/data", "mount_point": "data"}],
    "base_output_directory": "gs://team-bucket/scale",
    "timeout": "3600s",
}


def _pipeline(target, **options):
    """A pipeline calling the step with GCPC's extra inputs and reading every output."""
    step = target.custom_job_from_component(scale, **options)

    @dsl.pipeline(name="scale-as-custom-job")
    def pipeline(n: int = 4, project: str = "team-project") -> str:
        task = step(n=n, factor=2.5, project=project, location="europe-west4")
        return collect(
            report=task.outputs["report"],
            value=task.outputs["Output"],
            gcp_resources=task.outputs["gcp_resources"],
        ).output

    return pipeline


def _annotation(value):
    """`Optional[List[str]]` and `list[str] | None` alike, for comparison."""
    origin = typing.get_origin(value)
    if origin in (typing.Union, types.UnionType):
        return ("union", frozenset(_annotation(a) for a in typing.get_args(value)))
    if origin is None:
        return value
    args = typing.get_args(value)
    return (origin, tuple(_annotation(a) for a in args)) if args else origin


def _signature(func) -> list[tuple]:
    sig = inspect.signature(func, eval_str=True)
    return [
        (p.name, p.kind, p.default, _annotation(p.annotation)) for p in sig.parameters.values()
    ] + [("return", _annotation(sig.return_annotation))]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_signature_is_gcpcs_option_for_option(target):
    assert _signature(target.custom_job_from_component) == _signature(
        create_custom_training_job_from_component
    )


def _interface(component) -> dict:
    root = component.pipeline_spec.root
    return {
        "inputs": {
            name: (spec.parameter_type, spec.is_optional)
            for name, spec in root.input_definitions.parameters.items()
        },
        "input_artifacts": {
            name: spec.artifact_type.schema_title
            for name, spec in root.input_definitions.artifacts.items()
        },
        "outputs": {
            name: spec.parameter_type for name, spec in root.output_definitions.parameters.items()
        },
        "output_artifacts": {
            name: spec.artifact_type.schema_title
            for name, spec in root.output_definitions.artifacts.items()
        },
    }


def test_the_step_has_the_wrapped_components_interface_and_the_jobs():
    vertex = VERTEX.custom_job_from_component(collect, machine_type="n1-highmem-2")
    assert {"project", "location", "worker_pool_specs", "value"} <= set(
        _interface(vertex)["inputs"]
    )
    assert "gcp_resources" in _interface(vertex)["outputs"]
    assert vertex.component_spec.name == "collect"


def test_vertex_variant_compiles_with_the_payload_in_worker_pool_specs(tmp_path):
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(_pipeline(VERTEX, **GPU_OPTIONS), str(path))
    spec = yaml.safe_load(path.read_text())
    executors = spec["deploymentSpec"]["executors"]
    launcher = [e for e in executors.values() if "custom_job.launcher" in str(e)]
    assert len(launcher) == 1
    inputs = spec["components"]["comp-scale"]["inputDefinitions"]["parameters"]
    pools = inputs["worker_pool_specs"]["defaultValue"]
    primary, workers = pools
    assert primary["machine_spec"] == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 2,
    }
    assert primary["disk_spec"] == {"boot_disk_type": "pd-standard", "boot_disk_size_gb": 200}
    assert primary["nfs_mounts"] == GPU_OPTIONS["nfs_mounts"]
    assert primary["container_spec"]["env"] == [{"name": "MY_FLAG", "value": "on"}]
    assert primary["container_spec"]["image_uri"] == IMAGE
    assert primary["replica_count"] == 1 and workers["replica_count"] == 2
    assert inputs["timeout"]["defaultValue"] == "3600s"
    assert inputs["base_output_directory"]["defaultValue"] == "gs://team-bucket/scale"
    # The compiled payload is one Vertex accepts (parsed into aiplatform_v1 messages).
    CustomJobSpec.from_worker_pool_specs(parse_worker_pool_specs(pools))


BAD = [  # options, the option the error names, the value it names
    (
        {"machine_type": "a2-highgpu-1g", "accelerator_type": "NVIDIA_TESLA_T4"},
        "accelerator_type",
        "NVIDIA_TESLA_T4",
    ),
    ({"accelerator_type": "NVIDIA_TESLA_K9000"}, "accelerator_type", "NVIDIA_TESLA_K9000"),
    ({"replica_count": 0}, "replica_count", 0),
    ({"boot_disk_type": "pd-floppy"}, "boot_disk_type", "pd-floppy"),
    ({"boot_disk_size_gb": 10}, "boot_disk_size_gb", 10),
    ({"strategy": "CHEAPEST"}, "strategy", "CHEAPEST"),
    ({"strategy": "SPOT", "max_wait_duration": "60s"}, "max_wait_duration", "60s"),
    ({"timeout": "1 hour"}, "timeout", "1 hour"),
    ({"accelerator_count": 4}, "accelerator_count", 4),
    ({"env": [{"name": "A", "value": 1}]}, "env['A']", 1),
    (
        {"nfs_mounts": [{"server": "s", "path": "data", "mount_point": "m"}]},
        "nfs_mounts[0].path",
        "data",
    ),
    ({"labels": {"Team": "x"}}, "labels key", "Team"),
    ({"network": "my-vpc"}, "network", "my-vpc"),
    (
        {"network": "projects/1/global/networks/n", "psc_interface_config": {}},
        "psc_interface_config",
        {},
    ),
    ({"reservation_affinity_key": "k"}, "reservation_affinity_key", "k"),
    ({"display_name": "x" * 129}, "display_name", "x" * 129),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
@pytest.mark.parametrize(("options", "field", "value"), BAD, ids=[f for _, f, _ in BAD])
def test_bad_options_fail_when_the_pipeline_is_defined(target, options, field, value):
    with pytest.raises(SpecError) as err:
        _pipeline(target, **options)  # raises while defining: nothing compiled, nothing run
    assert (err.value.field, err.value.value) == (field, value)
    assert str(err.value).startswith(f"{field} ") and str(err.value).endswith(f"got {value!r}")


def test_machine_gpu_error_says_what_the_machine_needs():
    with pytest.raises(SpecError, match="must be NVIDIA_TESLA_A100 for machine_type a2-highgpu-1g"):
        VERTEX.custom_job_from_component(
            scale, machine_type="a2-highgpu-1g", accelerator_type="NVIDIA_TESLA_T4"
        )


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_a_pipeline_is_not_a_component_to_wrap(target):
    @dsl.pipeline
    def inner(n: int = 1):
        scale(n=n, factor=1.0)

    with pytest.raises(SpecError, match="single-container component") as err:
        target.custom_job_from_component(inner)
    assert err.value.field == "component_spec"


def test_container_components_run_as_custom_jobs():
    assert "gcp_resources" in _interface(VERTEX.custom_job_from_component(echo))["outputs"]


@pytest.mark.slow
@pytest.mark.xdist_group("custom-job-local")
def test_the_compiled_step_runs_on_the_custom_job_twin(tmp_path):
    from vtp.local.run import run_pipeline

    options = {**GPU_OPTIONS, "replica_count": 1, "display_name": "scale-locally"}
    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(_pipeline(VERTEX, **options), str(path))
    home = LocalHome(tmp_path / "home")
    record = run_pipeline(path, {"n": 4}, home=home, out=None)
    result = json.loads(record.tasks["collect"].outputs["Output"])
    assert result["value"] == 10.0
    resource = json.loads(result["gcp_resources"])["resources"][0]
    assert resource["resourceType"] == "CustomJob"
    assert resource["resourceUri"].startswith(
        "local://projects/team-project/locations/europe-west4/customJobs/"
    )
    seen = result["seen"]
    assert seen["MY_FLAG"] == "on"
    assert seen["AIP_MODEL_DIR"] == f"{home.gcs_root}/team-bucket/scale/model/"
    assert json.loads(seen["CLUSTER_SPEC"])["task"] == {"type": "workerpool0", "index": 0}
    assert seen["CUDA_VISIBLE_DEVICES"] == ""  # the T4s are not here: the replica runs on CPU
    report = record.tasks["scale"].outputs["report"]["uri"]
    assert report.startswith("gs://local-pipeline-root/")  # as the component wrote it on Vertex
    log = record.log_path.read_text()
    assert "NVIDIA_TESLA_T4 x 2 requested; running on CPU locally" in log
