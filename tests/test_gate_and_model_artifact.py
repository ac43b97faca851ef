"""The metric gate and the UnmanagedContainerModel artifact component."""

import json

import pytest
from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel

from vtp.components.models.container import check_model_dir, container_spec
from vtp.components.models.gate import metric_gate
from vtp.components.models.gating import gate
from vtp.components.training import unmanaged_container_model
from vtp.errors import SpecError

SKLEARN = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"


@pytest.mark.parametrize(
    ("value", "threshold", "goal", "verdict"),
    [
        (0.95, 0.9, "maximize", "pass"),
        (0.9, 0.9, "maximize", "pass"),
        (0.85, 0.9, "maximize", "fail"),
        (0.2, 0.3, "minimize", "pass"),
        (0.4, 0.3, "MINIMIZE", "fail"),
        (float("nan"), 0.3, "maximize", "fail"),
    ],
)
def test_gate(value, threshold, goal, verdict):
    assert gate(value, threshold, goal) == verdict
    assert metric_gate.python_func(value=value, threshold=threshold, goal=goal) == verdict


def test_gate_rejects_unknown_goal():
    with pytest.raises(SpecError, match="goal must be one of maximize, minimize, got 'up'"):
        gate(1.0, 0.5, "up")


def test_container_spec_shape_and_errors():
    assert container_spec(SKLEARN, predict_route="/p", health_route="/h", port=8080) == {
        "imageUri": SKLEARN,
        "predictRoute": "/p",
        "healthRoute": "/h",
        "ports": [{"containerPort": 8080}],
    }
    with pytest.raises(SpecError, match="imageUri"):
        container_spec(" ")
    with pytest.raises(SpecError, match="containerPort must be in 1..65535"):
        container_spec(SKLEARN, port=70000)


def test_model_dir_checks(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_dir(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is empty"):
        check_model_dir(str(tmp_path / "empty"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.bin").write_bytes(b"x")
    check_model_dir(str(model_dir), "my-own-server:1")  # custom containers: any files
    with pytest.raises(FileNotFoundError, match="model.joblib"):
        check_model_dir(str(model_dir), SKLEARN)


def test_model_artifact_points_at_the_model_dir_through_the_gcs_mount(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_GCS_ROOT", str(tmp_path / "gcs"))
    model_dir = tmp_path / "gcs" / "bucket" / "job" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "model.joblib").write_bytes(b"x")
    artifact = UnmanagedContainerModel(name="model", uri=str(tmp_path / "out"), metadata={})
    unmanaged_container_model.python_func(
        model_dir="gs://bucket/job/model/", serving_image=SKLEARN, model=artifact
    )
    assert artifact.uri == "gs://bucket/job/model"
    assert json.loads(json.dumps(artifact.metadata)) == {"containerSpec": {"imageUri": SKLEARN}}
