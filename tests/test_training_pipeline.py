"""The whole training pipeline, its compiled YAML run by vtp's local orchestrator.

Real parts only: every component runs as a process, GCPC's custom job launcher task runs on the
custom-job twin, which starts the reference trainer as a process, and the upload launcher task
writes the SQLite registry.
"""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import psutil
import pytest
from support.cli import run_vtp as _vtp
from support.waiting import wait_until

from vtp.components.data.split_reader import read_split_pandas
from vtp.home import LocalHome
from vtp.local.registry import LocalModelRegistry
from vtp.local.run import RunFailed, run_pipeline

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _trainers(home: Path) -> list[psutil.Process]:
    """Live reference-trainer processes started by a run under `home`."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if (proc.info["cmdline"] or [])[1:3] == ["-m", "trainer.task"] and proc.environ().get(
                "VTP_GCS_ROOT", ""
            ).startswith(str(home)):
                found.append(proc)
    return found


def _local(uri: str, home: Path) -> Path:
    assert uri.startswith("gs://"), uri
    return home / "gcs" / uri[len("gs://") :]


@pytest.mark.xdist_group("e2e-pass")
def test_cli_run_trains_evaluates_and_registers_a_model_that_predicts(tmp_path):
    home = tmp_path / "home"
    proc = _vtp("run", "training", "--local", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in ("load-dataset", "custom-training-job", "evaluate-model", "model-upload"):
        assert f"ok   {step}" in proc.stderr, proc.stderr
    assert "gate     pass" in proc.stdout
    assert "version 1, aliases: default" in proc.stdout
    assert (
        "plots    evaluate-model [evaluate]: classification_metrics (confusion matrix, ROC "
        "curve), metrics"
    ) in proc.stdout
    run_id = next((home / "runs").glob("training-*")).name
    assert f"ui       http://127.0.0.1:8765/runs/{run_id}  (start it with `vtp ui`)" in proc.stdout

    registry = LocalModelRegistry(home / "registry.db")
    version = registry.get("breast-cancer-classifier")
    assert version.version_id == "1" and version.version_aliases == ("default",)
    assert version.labels == {"pipeline": "training"}
    assert version.container_spec["imageUri"].startswith("us-docker.pkg.dev/vertex-ai/prediction/")
    model_dir = _local(version.artifact_uri, home)
    model = joblib.load(model_dir / "model.joblib")
    features = json.loads((model_dir / "model_metadata.json").read_text())["feature_names"]

    record = json.loads(next((home / "runs").glob("training-*/run.json")).read_text())
    assert record["state"] == "SUCCEEDED"
    test_uri = record["tasks"]["load-dataset"]["outputs"]["test"]["uri"]
    test = read_split_pandas(str(_local(test_uri, home)))
    predictions = model.predict(test[features].values.tolist())  # as the prebuilt server calls it
    assert set(predictions) <= {0, 1}
    assert (predictions == test["target"]).mean() > 0.85

    metrics = record["tasks"]["evaluate-model"]["outputs"]["metrics"]["metadata"]
    assert metrics["auc"] > 0.95 and metrics["accuracy"] > 0.85
    assert metrics["test_rows"] == len(test)
    matrix = record["tasks"]["evaluate-model"]["outputs"]["classification_metrics"]["metadata"]
    confusion = matrix["confusionMatrix"]["rows"]
    assert sum(sum(row["row"]) for row in confusion) == len(test)
    assert (
        "Default version:  1"
        in _vtp("models", "show", "breast-cancer-classifier", home=home).stdout
    )
    assert "breast-cancer-classifier" in _vtp("models", "list", home=home).stdout


@pytest.mark.xdist_group("e2e-gate")
def test_gate_that_fails_skips_the_upload_and_says_so(tmp_path):
    home = LocalHome(tmp_path / "home")
    record = run_pipeline(
        "training", {"project": "p", "metric_threshold": 1.01}, home=home, out=sys.stderr
    )
    assert record.state == "SUCCEEDED"
    assert record.tasks["metric-gate"].outputs["Output"] == "fail"
    assert "model-upload" not in record.tasks or record.tasks["model-upload"].status == "SKIPPED"
    assert not home.registry_db.exists() or not LocalModelRegistry(home.registry_db).list_models()


@pytest.mark.xdist_group("e2e-gate")
def test_failing_trainer_fails_the_run_with_the_replica_log_and_leaves_nothing(tmp_path):
    home = tmp_path / "home"
    proc = _vtp(
        "run", "training", "--local", "--param", 'hyperparameters={"max_iter": -3}', home=home
    )
    assert proc.returncode == 1
    assert "FAIL  custom-training-job" in proc.stderr
    assert "replica workerpool0-0 failed with exit code 1" in proc.stderr
    assert "max_iter" in proc.stderr
    assert (
        not (home / "registry.db").exists()
        or not LocalModelRegistry(home / "registry.db").list_models()
    )
    jobs = list((home / "jobs").glob("*/job.json"))
    assert [json.loads(j.read_text())["state"] for j in jobs] == ["JOB_STATE_FAILED"]
    leftovers = _trainers(home)
    assert leftovers == []


def test_run_failed_carries_its_record(tmp_path):
    home = LocalHome(tmp_path / "home")
    with pytest.raises(RunFailed) as caught:
        run_pipeline(
            "training",
            {"project": "p", "data_source": str(tmp_path / "none.csv")},
            home=home,
            out=sys.stderr,
        )
    assert caught.value.record.tasks["load-dataset"].status == "FAILED"
    assert any("none.csv" in line for line in caught.value.record.failure_log)


@pytest.mark.xdist_group("e2e-pass")
def test_interrupted_run_stops_the_trainer_and_exits_130(tmp_path):
    """Ctrl-C (SIGINT to the foreground process group) while the trainer runs."""
    import signal

    home = tmp_path / "home"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vtp",
            "run",
            "training",
            "--local",
            "--home",
            str(home),
            "--param",
            'hyperparameters={"max_iter": 100000, "learning_rate": 0.0001}',
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    wait_until(lambda: _trainers(home) or proc.poll() is not None, poll_s=0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # while the trainer runs
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    wait_until(lambda: _trainers(home) == [])  # a trainer left running fails at the timeout
    record = json.loads(next((home / "runs").glob("training-*/run.json")).read_text())
    assert record["state"] == "CANCELLED"
