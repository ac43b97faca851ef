"""The distributed pipeline: its payload, its compiled YAML, and local runs end to end.

The local runs are real: `vtp run distributed --local` from the compiled YAML, the custom-job twin
starting one trainer process per replica, the replicas training one XGBoost model in XGBoost's
collective over loopback, the upload twin writing the SQLite registry.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path

import psutil
import pytest
import xgboost
import yaml
from kfp.components import load_component_from_file
from support.cli import run_vtp as _vtp

from vtp.components.data.split_reader import read_split_pandas
from vtp.components.specs import REDUCTION_SERVER_IMAGE
from vtp.components.training.distributed_job_spec import distributed_job_payload
from vtp.components.training.trainer import Trainer
from vtp.defaults import DISTRIBUTED_TRAINER_IMAGE
from vtp.errors import SpecError
from vtp.home import LocalHome
from vtp.local.registry import LocalModelRegistry
from vtp.local.run import run_pipeline
from vtp.pipelines import distributed

REPO = Path(__file__).resolve().parents[1]
COMPILED = REPO / "compiled" / "pipelines" / "distributed.yaml"
REPLICAS = ["workerpool0-0", "workerpool1-0", "workerpool1-1"]


SPLITS = {
    "training": ("gs://b/data/train", {"data_uri": "gs://b/data/train/training-*"}),
    "validation": ("gs://b/data/validation", {"data_uri": "gs://b/data/validation/validation-*"}),
    "test": ("gs://b/data/test", {"data_uri": "gs://b/data/test/test-*", "data_format": "csv"}),
}


def _payload(trainer: Trainer | None = None, **job) -> tuple[list[dict], str, str]:
    trainer = trainer or Trainer(trainer_image=DISTRIBUTED_TRAINER_IMAGE)
    return distributed_job_payload(
        splits=SPLITS,
        staging_root="gs://b/root",
        job_id="job-1",
        **{"trainer": trainer, "machine_type": "n1-standard-4", "worker_count": 2, **job},
    )


def test_payload_is_a_primary_and_workers_with_the_data_wired_in():
    specs, base, model_dir = _payload(hyperparameters={"num_boost_round": 50.0, "max_depth": 3})
    assert (base, model_dir) == (
        "gs://b/root/job-1/custom-job",
        "gs://b/root/job-1/custom-job/model/",
    )
    assert [pool["replica_count"] for pool in specs] == [1, 2]
    for pool in specs:
        container = pool["container_spec"]
        assert "command" not in container  # the image's ENTRYPOINT runs
        assert container["args"] == ["--max_depth=3", "--num_boost_round=50"]
        assert {e["name"]: e["value"] for e in container["env"]} == {
            "AIP_TRAINING_DATA_URI": "gs://b/data/train/training-*",
            "AIP_VALIDATION_DATA_URI": "gs://b/data/validation/validation-*",
            "AIP_TEST_DATA_URI": "gs://b/data/test/test-*",
            "AIP_DATA_FORMAT": "csv",
        }

    package = Trainer(
        package_uris=["gs://b/trainers/t-0.1.tar.gz"],
        python_module="trainer.task",
        executor_image_uri="us-docker.pkg.dev/vertex-ai/training/xgboost-cpu.1-1:latest",
        trainer_args=["--verbose"],
    )
    specs, _, _ = _payload(package, hyperparameters={"eta": 0.1})
    for pool in specs:
        assert pool["python_package_spec"]["args"] == ["--verbose", "--eta=0.1"]
        assert pool["python_package_spec"]["python_module"] == "trainer.task"

    specs, _, _ = _payload(
        worker_machine_type="n1-standard-8",
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=1,
        reduction_server_count=2,
    )
    assert specs[1]["machine_spec"] == {
        "machine_type": "n1-standard-8",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1,
    }
    assert specs[2] == {
        "machine_spec": {"machine_type": "n1-highcpu-16"},
        "replica_count": 2,
        "container_spec": {"image_uri": REDUCTION_SERVER_IMAGE},
    }


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"worker_count": 0}, "worker_count must be a whole number >= 1"),
        ({"reduction_server_count": -1}, "reduction_server_count must be a whole number >= 0"),
        (
            {"reduction_server_count": 1},
            r"worker_pool_specs\[0\]\.machine_spec\.accelerator_type must be an NVIDIA GPU",
        ),
        ({"accelerator_type": "NVIDIA_TESLA_T4"}, "accelerator_count must be >= 1"),
    ],
)
def test_payload_refuses_what_vertex_would(job, message):
    with pytest.raises(SpecError, match=message):
        _payload(**job)


def test_check_params_fails_before_a_run():
    values = {
        "train_fraction": 0.8,
        "validation_fraction": 0.1,
        "test_fraction": 0.1,
        "metric_goal": "maximize",
        "primary_metric": "auc",
        "task": "auto",
        "trainer_image": DISTRIBUTED_TRAINER_IMAGE,
        "machine_type": "n1-standard-4",
        "worker_count": 2,
        "worker_machine_type": "",
        "accelerator_type": "",
        "accelerator_count": 0,
        "reduction_server_count": 0,
        "reduction_server_machine_type": "n1-highcpu-16",
        "hyperparameters": {"max_depth": 3},
        "timeout": "86400s",
    }
    distributed.check_params(values)
    with pytest.raises(SpecError, match="worker_count"):
        distributed.check_params({**values, "worker_count": 0})
    with pytest.raises(SpecError, match="accelerator_type"):
        distributed.check_params({**values, "reduction_server_count": 1})


def test_compiled_yaml_holds_the_distributed_job():
    spec = yaml.safe_load(COMPILED.read_text())
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["worker_count"]["defaultValue"] == 2
    assert inputs["reduction_server_count"]["defaultValue"] == 0
    assert inputs["reduction_server_machine_type"]["defaultValue"] == "n1-highcpu-16"
    assert inputs["trainer_image"]["defaultValue"] == DISTRIBUTED_TRAINER_IMAGE
    assert inputs["hyperparameters"]["defaultValue"] == {}  # the trainer's own defaults

    tasks = spec["root"]["dag"]["tasks"]
    job_spec = tasks["distributed-job-spec"]["inputs"]["parameters"]
    for name in ("worker_count", "reduction_server_count", "accelerator_type", "machine_type"):
        assert job_spec[name] == {"componentInputParameter": name}
    job = tasks["custom-training-job"]
    assert job["inputs"]["parameters"]["worker_pool_specs"] == {
        "taskOutputParameter": {
            "outputParameterKey": "worker_pool_specs",
            "producerTask": "distributed-job-spec",
        }
    }
    executor = spec["deploymentSpec"]["executors"]["exec-custom-training-job"]["container"]
    assert (
        "google_cloud_pipeline_components.container.v1.custom_job.launcher" in executor["command"]
    )
    builder = spec["deploymentSpec"]["executors"]["exec-distributed-job-spec"]["container"]
    assert "distributed_job_payload" in "\n".join(builder["command"])

    component = load_component_from_file(str(COMPILED))  # importable into other pipelines
    assert {"worker_count", "reduction_server_count", "worker_machine_type"} <= set(
        component.component_spec.inputs
    )


# -- end to end, locally -------------------------------------------------------------------


def _job_dir(home: Path) -> Path:
    (job,) = (home / "jobs").glob("*/job.json")
    return job.parent


def _distributed_trainers(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if (proc.info["cmdline"] or [])[1:3] == ["-m", "trainer.distributed.task"] and (
                proc.environ().get("VTP_GCS_ROOT", "").startswith(str(home))
            ):
                found.append(proc)
    return found


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-distributed")
def test_cli_run_trains_on_three_replicas_and_registers_the_model(tmp_path):
    home = tmp_path / "home"
    proc = _vtp("run", "distributed", "--local", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in ("load-dataset", "distributed-job-spec", "custom-training-job", "model-upload"):
        assert f"ok   {step}" in proc.stderr, proc.stderr
    assert "gate     pass" in proc.stdout

    job_dir = _job_dir(home)
    record = json.loads((job_dir / "job.json").read_text())
    assert record["state"] == "JOB_STATE_SUCCEEDED"
    pools = record["job"]["job_spec"]["worker_pool_specs"]
    assert [p["replica_count"] for p in pools] == [1, 2]
    assert sorted(p.stem for p in (job_dir / "logs").glob("*.log")) == REPLICAS
    logs = {name: (job_dir / "logs" / f"{name}.log").read_text() for name in REPLICAS}
    sums = {name: re.findall(r"rank \d: model sha256 ([0-9a-f]{64})", logs[name]) for name in logs}
    assert (
        all(len(found) == 1 for found in sums.values()) and len({s[0] for s in sums.values()}) == 1
    )
    assert "XGBoost collective: 3 ranks" in logs[REPLICAS[0]]

    registry = LocalModelRegistry(home / "registry.db")
    version = registry.get("breast-cancer-distributed")
    assert version.version_id == "1" and version.labels == {"pipeline": "distributed"}
    assert version.container_spec["imageUri"].endswith("/prediction/xgboost-cpu.2-1:latest")
    model_dir = home / "gcs" / version.artifact_uri[len("gs://") :]
    assert sorted(p.name for p in model_dir.iterdir()) == ["model.bst", "model_metadata.json"]
    metadata = json.loads((model_dir / "model_metadata.json").read_text())
    assert metadata["distributed"]["world_size"] == 3

    run = json.loads(next((home / "runs").glob("distributed-*/run.json")).read_text())
    test_uri = run["tasks"]["load-dataset"]["outputs"]["test"]["uri"]
    test = read_split_pandas(str(home / "gcs" / test_uri[len("gs://") :]))
    booster = xgboost.Booster(model_file=str(model_dir / "model.bst"))
    # as the prebuilt XGBoost container calls it: a DMatrix of the instances, plain numbers
    proba = booster.predict(xgboost.DMatrix(test[metadata["feature_names"]].values.tolist()))
    assert ((proba > 0.5) == test["target"]).mean() > 0.9
    metrics = run["tasks"]["evaluate-model"]["outputs"]["metrics"]["metadata"]
    assert metrics["auc"] > 0.95
    assert "Reduction Server" not in Path(run["log"]).read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-distributed")
def test_reduction_server_is_skipped_with_one_line_in_the_run_log(tmp_path):
    home = LocalHome(tmp_path / "home")
    params = {
        "project": "p",
        "accelerator_type": "NVIDIA_TESLA_T4",
        "accelerator_count": 1,
        "reduction_server_count": 2,
        "hyperparameters": {"num_boost_round": 10},
    }
    record = run_pipeline("distributed", params, home=home, out=sys.stderr)
    assert record.state == "SUCCEEDED"
    log = record.log_path.read_text()
    notes = [line for line in log.splitlines() if "Reduction Server" in line]
    assert len(notes) == 1, notes
    assert "workerpool2" in notes[0] and "not started" in notes[0]
    job_dir = _job_dir(home.root)
    pools = json.loads((job_dir / "job.json").read_text())["job"]["job_spec"]["worker_pool_specs"]
    assert pools[2]["container_spec"]["image_uri"] == REDUCTION_SERVER_IMAGE
    assert sorted(p.stem for p in (job_dir / "logs").glob("*.log")) == REPLICAS
    assert "rank 0 of world size 3" in (job_dir / "logs" / "workerpool0-0.log").read_text()
    gpu_notes = [line for line in log.splitlines() if "NVIDIA_TESLA_T4 x 1 requested" in line]
    assert len(gpu_notes) == 2  # the primary's and the workers' pools, run on CPU here


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-distributed")
def test_a_killed_worker_fails_the_run_naming_it_and_leaves_no_trainer(tmp_path):
    home = tmp_path / "home"
    crash = 'hyperparameters={"fail_rank": 2, "fail_at_round": 5}'
    proc = _vtp("run", "distributed", "--local", "--param", crash, home=home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  custom-training-job" in proc.stderr
    assert "replica workerpool1-1 was killed by signal SIGKILL" in proc.stderr
    record = json.loads((_job_dir(home) / "job.json").read_text())
    assert record["state"] == "JOB_STATE_FAILED"
    assert (
        not (home / "registry.db").exists()
        or not LocalModelRegistry(home / "registry.db").list_models()
    )
    assert _distributed_trainers(home) == []
