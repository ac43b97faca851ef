"""Pipelines written elsewhere: the way Google's docs and samples write them, with no vtp
import (`examples/gcpc/`), compiled by KFP and run with `vtp run FILE.yaml --local`.

Real parts: KFP's compiler, the `vtp` command as a subprocess, GCPC's custom job and model
upload launcher tasks on the local twins, the team's trainer (`examples/gcpc/trainer.py`, its
image mapped to that command with `VTP_IMAGE_COMMANDS`) as a real process, the SQLite registry.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

from vtp.local.registry import LocalModelRegistry

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-gcpc")]
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "gcpc"
TRAINER_IMAGE = "us-central1-docker.pkg.dev/team-project/images/trainer"


def _compile(name: str, out: Path) -> Path:
    path = out / f"{name}.yaml"
    subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), str(path)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    return path


def _home(tmp_path: Path) -> Path:
    """A vtp home whose local Cloud Storage holds the team's data, as their bucket would."""
    home = tmp_path / "home"
    data = home / "gcs" / "team-bucket" / "data"
    data.mkdir(parents=True)
    shutil.copy(REPO / "data" / "breast_cancer.csv", data)
    return home


def _vtp(path: Path, home: Path, *params: str, mapped: bool = True) -> subprocess.CompletedProcess:
    mapping = {TRAINER_IMAGE: ["python", str(EXAMPLES / "trainer.py")]} if mapped else {}
    env = {**os.environ, "VTP_IMAGE_COMMANDS": json.dumps(mapping), "PYTHONUNBUFFERED": "1"}
    args = [arg for p in ("project=team-project", *params) for arg in ("--param", p)]
    return subprocess.run(
        [sys.executable, "-m", "vtp", "run", str(path), "--local", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )


def test_the_pipelines_import_no_vtp():
    for source in EXAMPLES.glob("*.py"):
        tree = ast.parse(source.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "vtp" not in imported, source


def test_gcpc_training_job_importer_condition_and_upload_run_locally(tmp_path):
    path = _compile("train_and_upload", tmp_path)
    home = _home(tmp_path)
    proc = _vtp(path, home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for step in ("custom-training-job", "importer", "check-model", "model-upload"):
        assert f"ok   {step}" in proc.stderr

    registry = LocalModelRegistry(home / "registry.db", project="team-project")
    version = registry.get("team-classifier")
    assert version.version_id == "1" and version.version_aliases == ("default",)
    assert version.artifact_uri == "gs://team-bucket/training/model"
    assert version.container_spec["imageUri"].endswith("sklearn-cpu.1-6:latest")

    model_dir = home / "gcs" / "team-bucket" / "training" / "model"  # the job's AIP_MODEL_DIR
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["auc"] > 0.9
    model = joblib.load(model_dir / "model.joblib")
    data = pd.read_csv(REPO / "data" / "breast_cancer.csv")
    accuracy = (model.predict(data[metrics["features"]].values) == data["target"]).mean()
    assert accuracy > 0.9
    (job,) = (home / "jobs").glob("*/job.json")
    record = json.loads(job.read_text())
    assert record["state"] == "JOB_STATE_SUCCEEDED"
    assert record["name"].startswith("projects/team-project/locations/us-central1/customJobs/")

    gate = _vtp(path, home, "auc_threshold=1.01")  # the condition is false: no upload
    assert gate.returncode == 0, gate.stderr[-3000:]
    assert "skip condition-1 [good-enough]  (condition false)" in gate.stderr
    assert [v.version_id for v in registry.list_versions("team-classifier")] == ["1"]


def test_an_unmapped_trainer_image_is_refused_before_the_first_step(tmp_path):
    path = _compile("train_and_upload", tmp_path)
    home = _home(tmp_path)
    proc = _vtp(path, home, mapped=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "task 'custom-training-job': worker_pool_specs[0].container_spec: image" in proc.stderr
    assert TRAINER_IMAGE in proc.stderr and "VTP_IMAGE_COMMANDS=" in proc.stderr
    assert not (home / "jobs").exists() or not list((home / "jobs").glob("*/job.json"))
    assert not (home / "gcs" / "team-bucket" / "training").exists()  # nothing ran


def test_gcpc_sweep_in_parallel_for_with_an_exit_handler(tmp_path):
    path = _compile("sweep", tmp_path)
    home = _home(tmp_path)
    proc = _vtp(path, home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads(next((home / "runs").glob("team-sweep-*/run.json")).read_text())
    assert run["tasks"]["count-jobs"]["outputs"]["Output"] == 2
    assert run["tasks"]["report"]["outputs"]["Output"] == "sweep SUCCEEDED: no error"
    for c in ("0.1", "10.0"):
        metrics = home / "gcs" / "team-bucket" / "sweep" / f"C-{c}" / "model" / "metrics.json"
        assert json.loads(metrics.read_text())["C"] == float(c)

    failing = _vtp(path, home, "regularization=[0.1, -1.0]")  # the trainer refuses C <= 0
    assert failing.returncode == 1 and "Traceback" not in failing.stderr, failing.stderr[-3000:]
    run = json.loads(
        sorted((home / "runs").glob("team-sweep-*/run.json"), key=lambda p: p.stat().st_mtime)[
            -1
        ].read_text()
    )
    tasks = run["tasks"]
    assert tasks["for-loop-2[0]/custom-training-job"]["state"] == "SUCCEEDED"
    assert tasks["for-loop-2[1]/custom-training-job"]["state"] == "FAILED"
    assert tasks["count-jobs"]["state"] == "NOT_TRIGGERED"
    assert tasks["report"]["state"] == "SUCCEEDED"  # the exit handler runs after a failure
    assert tasks["report"]["outputs"]["Output"].startswith("sweep FAILED")
    assert "replica workerpool0-0 failed with exit code 2" in failing.stderr
