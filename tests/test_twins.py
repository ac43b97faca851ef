"""The twins' own logic: the payload GCPC's launcher would send, and the upload twin."""

import json
import subprocess
import sys
import textwrap

import pytest
from google_cloud_pipeline_components.types.artifact_types import (
    UnmanagedContainerModel,
    VertexModel,
)

from vtp.errors import SpecError
from vtp.local.registry import LocalModelRegistry
from vtp.local.twins import custom_training_job, model_upload
from vtp.local.twins.custom_job_runtime import launcher_payload, validate_custom_job

POOL = {
    "machine_spec": {"machine_type": "n1-standard-4"},
    "replica_count": 1,
    "container_spec": {"image_uri": "img", "command": ["python", "-c", "print(1)"]},
}


def _payload(pools, strategy="STANDARD"):
    return {
        "display_name": "job",
        "job_spec": {
            "worker_pool_specs": pools,
            "scheduling": {"timeout": "60s", "strategy": strategy, "max_wait_duration": "60s"},
            "service_account": "",
            "base_output_directory": {"output_uri_prefix": ""},
        },
        "labels": {},
        "encryption_spec": {"kms_key_name": ""},
    }


def test_launcher_payload_drops_empty_fields_and_pools_like_gcpc():
    job = launcher_payload(_payload([POOL, {}, {}, POOL]))
    assert job["job_spec"]["worker_pool_specs"] == [POOL, POOL]  # evaluators became workers
    assert "service_account" not in job["job_spec"]
    assert "max_wait_duration" not in job["job_spec"]["scheduling"]
    flex = launcher_payload(_payload([POOL], strategy="FLEX_START"))
    assert flex["job_spec"]["scheduling"]["max_wait_duration"] == "60s"


def test_validate_custom_job_uses_the_aiplatform_proto():
    validate_custom_job(launcher_payload(_payload([POOL])))
    with pytest.raises(SpecError, match="aiplatform_v1.CustomJob"):
        validate_custom_job({"display_name": "x", "job_spec": {"worker_pools": []}})


@pytest.mark.slow  # a trainer process
def test_custom_job_twin_runs_the_payload_and_records_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, pathlib
            d = pathlib.Path(os.environ["AIP_MODEL_DIR"])
            d.mkdir(parents=True, exist_ok=True)
            (d / "model.txt").write_text(os.environ["CLUSTER_SPEC"])
            """
        )
    )
    pool = {**POOL, "container_spec": {"image_uri": "img", "command": ["python", str(script)]}}
    out = tmp_path / "gcp_resources"
    custom_training_job.python_func(
        display_name="twin",
        gcp_resources=str(out),
        worker_pool_specs=[pool],
        base_output_directory="gs://bucket/run",
        project="p",
        location="europe-west4",
    )
    resource = json.loads(out.read_text())["resources"][0]
    assert resource["resourceType"] == "CustomJob"
    assert resource["resourceUri"].startswith(
        "local://projects/p/locations/europe-west4/customJobs/"
    )
    cluster = json.loads((tmp_path / "home/gcs/bucket/run/model/model.txt").read_text())
    assert cluster["task"] == {"type": "workerpool0", "index": 0}
    (record,) = (tmp_path / "home" / "jobs").glob("*/job.json")
    assert json.loads(record.read_text())["state"] == "JOB_STATE_SUCCEEDED"


def test_custom_job_twin_rejects_an_invalid_payload_before_starting(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    bad = {**POOL, "replica_count": 3}
    with pytest.raises(SpecError, match=r"worker_pool_specs\[0\].replica_count must be 1"):
        custom_training_job.python_func(
            display_name="twin", gcp_resources=str(tmp_path / "r"), worker_pool_specs=[bad]
        )
    assert not (tmp_path / "home" / "jobs").exists()


def _model_dir(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "model.joblib").write_bytes(b"x")
    return d


def test_upload_twin_creates_versions_of_a_parent_model(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    source = UnmanagedContainerModel(
        name="m", uri=str(_model_dir(tmp_path)), metadata={"containerSpec": {"imageUri": "srv"}}
    )
    first = VertexModel(name="model", uri="", metadata={})
    model_upload.python_func(
        display_name="clf",
        gcp_resources=str(tmp_path / "r1"),
        model=first,
        unmanaged_container_model=source,
        project="p",
        location="us-east1",
    )
    name = first.metadata["resourceName"]
    assert name.startswith("projects/p/locations/us-east1/models/") and name.endswith("@1")
    second = VertexModel(name="model", uri="", metadata={})
    model_upload.python_func(
        display_name="clf",
        gcp_resources=str(tmp_path / "r2"),
        model=second,
        unmanaged_container_model=source,
        parent_model=first,
        version_aliases=["challenger"],
        project="p",
        location="us-east1",
    )
    assert second.metadata["resourceName"] == name[:-2] + "@2"
    registry = LocalModelRegistry(
        tmp_path / "home" / "registry.db", project="p", location="us-east1"
    )
    versions = {v.version_id: set(v.version_aliases) for v in registry.list_versions(name)}
    assert versions == {"1": {"default"}, "2": {"challenger"}}  # default moves only when asked
    third = VertexModel(name="model", uri="", metadata={})
    model_upload.python_func(
        display_name="clf",
        gcp_resources=str(tmp_path / "r3"),
        model=third,
        unmanaged_container_model=source,
        parent_model=second,
        version_aliases=["default", "champion"],
        project="p",
        location="us-east1",
    )
    versions = {v.version_id: set(v.version_aliases) for v in registry.list_versions(name)}
    assert versions == {"1": set(), "2": {"challenger"}, "3": {"default", "champion"}}


def test_upload_twin_needs_a_model_and_writes_nothing_without_one(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    with pytest.raises(SpecError, match="unmanaged_container_model"):
        model_upload.python_func(
            display_name="clf",
            gcp_resources=str(tmp_path / "r"),
            model=VertexModel(name="model", uri="", metadata={}),
        )
    assert not (tmp_path / "home" / "registry.db").exists()


@pytest.mark.slow  # a fresh interpreter
def test_components_import_without_dsl_component_inside_a_running_component():
    code = (
        "import vtp.components.training, vtp.local.twins, vtp.components.models.gate; print('ok')"
    )
    env = {"_KFP_RUNTIME": "true", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "ok", out.stderr
