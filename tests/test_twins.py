"""The twins' own logic: the payload GCPC's launcher would send, the custom job twin and the
upload twin, called with what GCPC's launchers receive (`support.launchers`)."""

import json
import subprocess
import sys
import textwrap

import pytest
from support.launchers import custom_job_payload, upload_args, uploaded_model

from vtp.errors import RegistryError, SpecError
from vtp.local.registry import LocalModelRegistry
from vtp.local.twins.custom_job_runtime import (
    launcher_payload,
    run_custom_job_twin,
    validate_custom_job,
)
from vtp.local.twins.model_upload_runtime import upload_from_launcher

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
    run_custom_job_twin(
        gcp_resources_path=str(out),
        project="p",
        location="europe-west4",
        payload=custom_job_payload(
            [pool], display_name="twin", base_output_directory="gs://bucket/run"
        ),
    )
    resource = json.loads(out.read_text())["resources"][0]
    assert resource["resourceType"] == "CustomJob"
    assert resource["resourceUri"].startswith(
        "local://projects/p/locations/europe-west4/customJobs/"
    )
    cluster = json.loads((tmp_path / "home/gcs/bucket/run/model/model.txt").read_text())
    assert cluster["task"] == {"type": "workerpool0", "index": 0}
    (record,) = (tmp_path / "home" / "jobs").glob("*/job.json")
    job = json.loads(record.read_text())
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["owner_pid"] > 0  # a job left RUNNING by a killed vtp is recognised by it
    # as GCPC's launcher after a restart: gcp_resources naming a finished job runs nothing
    name = run_custom_job_twin(
        gcp_resources_path=str(out),
        project="p",
        location="europe-west4",
        payload=custom_job_payload([pool], display_name="twin"),
    )
    assert name == resource["resourceUri"][len("local://") :]
    assert len(list((tmp_path / "home" / "jobs").glob("*/job.json"))) == 1


def test_custom_job_twin_rejects_an_invalid_payload_before_starting(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    bad = {**POOL, "replica_count": 3}
    with pytest.raises(SpecError, match=r"worker_pool_specs\[0\].replica_count must be 1"):
        run_custom_job_twin(
            gcp_resources_path=str(tmp_path / "r"),
            project="p",
            location="us-central1",
            payload=custom_job_payload([bad]),
        )
    assert not (tmp_path / "home" / "jobs").exists()


def _model_dir(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "model.joblib").write_bytes(b"x")
    return d


def test_upload_twin_creates_versions_of_a_parent_model(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    uri = str(_model_dir(tmp_path))

    def upload(step: str, **kwargs) -> dict:
        work = tmp_path / step
        upload_from_launcher(
            **upload_args(
                work, display_name="clf", model_uri=uri, project="p", location="us-east1", **kwargs
            )
        )
        return uploaded_model(work)

    first = upload("one")
    name = first["metadata"]["resourceName"]
    assert name.startswith("projects/p/locations/us-east1/models/") and name.endswith("@1")
    assert first["uri"] == f"vtp-local://{name}"
    second = upload("two", parent_model_name=name, version_aliases=["challenger"])
    assert second["metadata"]["resourceName"] == name[:-2] + "@2"
    registry = LocalModelRegistry(
        tmp_path / "home" / "registry.db", project="p", location="us-east1"
    )
    versions = {v.version_id: set(v.version_aliases) for v in registry.list_versions(name)}
    assert versions == {"1": {"default"}, "2": {"challenger"}}  # default moves only when asked
    upload(
        "three",
        parent_model_name=second["metadata"]["resourceName"],
        version_aliases=["default", "champion"],
    )
    versions = {v.version_id: set(v.version_aliases) for v in registry.list_versions(name)}
    assert versions == {"1": set(), "2": {"challenger"}, "3": {"default", "champion"}}
    resources = json.loads((tmp_path / "three" / "gcp_resources").read_text())
    assert resources["resources"][0]["resourceUri"] == f"local://{name[:-2]}"


def test_upload_twin_needs_a_model_and_writes_nothing_without_one(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    with pytest.raises(SpecError, match="unmanaged_container_model"):
        upload_from_launcher(**upload_args(tmp_path, display_name="clf", model_uri=None))
    assert not (tmp_path / "home" / "registry.db").exists()


def test_upload_twin_names_what_the_registry_refuses(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_HOME", str(tmp_path / "home"))
    with pytest.raises(RegistryError, match="label"):
        upload_from_launcher(
            **upload_args(tmp_path, display_name="clf", model_uri="gs://b/m", labels={"A": "b"})
        )


@pytest.mark.slow  # a fresh interpreter
def test_components_import_without_dsl_component_inside_a_running_component():
    code = (
        "import vtp.components.training, vtp.components.models.gate, vtp.components.tuning.ops; "
        "print('ok')"
    )
    env = {"_KFP_RUNTIME": "true", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "ok", out.stderr
