"""evaluate_model on a model that the reference trainer really trained on the shipped data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp import dsl

from vtp.components.evaluation import evaluate, evaluate_model
from vtp.components.evaluation.metrics import MAX_ROC_POINTS, roc_points
from vtp.errors import DataError, SpecError

# the models evaluated here are trained by the reference trainer, as processes
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CSV = REPO / "data" / "breast_cancer.csv"


def train(tmp: Path, train_path: Path, model_dir: Path, *args: str) -> None:
    """Runs the reference trainer as a process, as a Vertex custom job would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "CLOUD_ML_"))}
    env |= {
        "AIP_TRAINING_DATA_URI": str(train_path),
        "AIP_MODEL_DIR": f"{model_dir}/",
        "CLOUD_ML_HP_METRIC_FILE": str(tmp / "hypertune.metrics"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.task", *args],
        cwd=REPO / "trainers",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> dict[str, Path]:
    """A breast cancer model and its test split (ids divisible by 5, columns reversed)."""
    tmp = tmp_path_factory.mktemp("binary")
    frame = pd.read_csv(CSV)
    frame[frame["id"] % 5 != 0].to_parquet(tmp / "train.parquet", index=False)
    test = frame[frame["id"] % 5 == 0]
    test[test.columns[::-1]].to_parquet(tmp / "test.parquet", index=False)
    train(tmp, tmp / "train.parquet", tmp / "model", "--max-iter=100")
    return {"tmp": tmp, "model": tmp / "model", "test": tmp / "test.parquet"}


def run_component(model_uri: str, test_uri: str, out: Path, **params):
    """Calls the component's Python function with real kfp artifact objects."""
    model = UnmanagedContainerModel(uri=model_uri)
    test = dsl.Dataset(uri=test_uri)
    metrics = dsl.Metrics(uri=str(out / "metrics"))
    classification = dsl.ClassificationMetrics(uri=str(out / "classification_metrics"))
    outputs = evaluate_model.python_func(
        model=model,
        test=test,
        metrics=metrics,
        classification_metrics=classification,
        **params,
    )
    return outputs, metrics, classification


def test_binary_metrics(binary, tmp_path):
    assert dsl.Dataset(uri=str(binary["test"])).path == str(binary["test"])  # local: path = uri
    outputs, metrics, classification = run_component(
        str(binary["model"]), str(binary["test"]), tmp_path
    )
    scalars = metrics.metadata
    assert set(scalars) == {
        "auc", "accuracy", "precision", "recall", "f1", "log_loss", "test_rows"
    }  # fmt: skip
    assert scalars["test_rows"] == 114
    assert scalars["auc"] > 0.9
    assert scalars["accuracy"] > 0.9
    assert 0.8 < scalars["f1"] <= 1.0 and 0.8 < scalars["precision"] <= 1.0
    assert 0.0 < scalars["log_loss"] < 0.5
    assert outputs.primary_metric_value == scalars["auc"]

    matrix = classification.metadata["confusionMatrix"]
    assert [s["displayName"] for s in matrix["annotationSpecs"]] == ["0", "1"]
    rows = [r["row"] for r in matrix["rows"]]
    assert sum(map(sum, rows)) == 114
    test = pd.read_parquet(binary["test"])
    assert [sum(r) for r in rows] == [int((test["target"] == c).sum()) for c in (0, 1)]
    assert (rows[0][0] + rows[1][1]) / 114 == pytest.approx(scalars["accuracy"])

    roc = classification.metadata["confidenceMetrics"]
    assert 2 <= len(roc) <= MAX_ROC_POINTS
    fpr = [p["falsePositiveRate"] for p in roc]
    tpr = [p["recall"] for p in roc]
    thresholds = [p["confidenceThreshold"] for p in roc]
    assert fpr == sorted(fpr) and tpr == sorted(tpr)
    assert thresholds == sorted(thresholds, reverse=True)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert all(0.0 <= t <= 1.0 for t in thresholds)
    json.dumps(classification.metadata, allow_nan=False)  # what Vertex stores is plain JSON


def test_primary_metric_and_unknown_metric(binary, tmp_path):
    outputs, metrics, _ = run_component(
        str(binary["model"]), str(binary["test"]), tmp_path, primary_metric="log_loss"
    )
    assert outputs.primary_metric_value == metrics.metadata["log_loss"]
    with pytest.raises(SpecError) as err:
        run_component(str(binary["model"]), str(binary["test"]), tmp_path, primary_metric="rmse")
    assert str(err.value) == (
        "primary_metric must be one of accuracy, auc, f1, log_loss, precision, recall, got 'rmse'"
    )


def test_gcs_uris_read_through_the_local_mount(binary, tmp_path, monkeypatch):
    bucket = tmp_path / "gcs" / "bucket"
    (bucket / "run").mkdir(parents=True)
    (bucket / "run" / "model").symlink_to(binary["model"], target_is_directory=True)
    (bucket / "run" / "test").mkdir()
    (bucket / "run" / "test" / "part-0").write_bytes(binary["test"].read_bytes())
    monkeypatch.setenv("VTP_GCS_ROOT", str(tmp_path / "gcs"))
    outputs, metrics, _ = run_component(
        "gs://bucket/run/model", "gs://bucket/run/test/", tmp_path / "out"
    )
    assert metrics.metadata["test_rows"] == 114
    assert outputs.primary_metric_value > 0.9


def test_bad_inputs(binary, tmp_path):
    with pytest.raises(DataError, match="target_column 'label' is not a column"):
        evaluate(str(binary["model"]), str(binary["test"]), target_column="label")
    with pytest.raises(DataError, match=r"holds no model\.joblib"):
        evaluate(str(tmp_path), str(binary["test"]))
    test = pd.read_parquet(binary["test"]).drop(columns=["mean_radius"])
    test.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(DataError, match=r"lacks feature column.*mean_radius"):
        evaluate(str(binary["model"]), str(tmp_path / "test.csv"))


def test_multiclass(tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.rename(columns=lambda c: c.replace(" (cm)", ""))
    iris = iris.rename(columns=lambda c: c.replace(" ", "_"))
    iris.insert(0, "id", range(len(iris)))
    iris[iris["id"] % 4 != 0].to_csv(tmp_path / "train.csv", index=False)
    iris[iris["id"] % 4 == 0].to_csv(tmp_path / "test.csv", index=False)
    train(
        tmp_path, tmp_path / "train.csv", tmp_path / "model", "--max-iter=30", "--metric=accuracy"
    )
    outputs, metrics, classification = run_component(
        str(tmp_path / "model"), str(tmp_path / "test.csv"), tmp_path, primary_metric="f1_macro"
    )
    assert set(metrics.metadata) == {"accuracy", "f1_macro", "log_loss", "test_rows"}
    assert metrics.metadata["accuracy"] > 0.85
    assert outputs.primary_metric_value == metrics.metadata["f1_macro"]
    matrix = classification.metadata["confusionMatrix"]
    assert [s["displayName"] for s in matrix["annotationSpecs"]] == ["0", "1", "2"]
    assert sum(sum(r["row"]) for r in matrix["rows"]) == 38
    assert "confidenceMetrics" not in classification.metadata
    with pytest.raises(SpecError, match="must be one of accuracy, f1_macro, log_loss, got 'auc'"):
        run_component(str(tmp_path / "model"), str(tmp_path / "test.csv"), tmp_path)


def test_roc_points_are_downsampled_and_monotone():
    rng = np.random.default_rng(0)
    positive = rng.random(5000) < 0.4
    scores = np.clip(positive * 0.3 + rng.random(5000) * 0.7, 0, 1)
    roc = roc_points(positive, scores)
    assert len(roc.fpr) <= MAX_ROC_POINTS
    assert roc.fpr == sorted(roc.fpr) and roc.tpr == sorted(roc.tpr)
    assert roc.thresholds == sorted(roc.thresholds, reverse=True)
    assert (roc.fpr[0], roc.tpr[0], roc.fpr[-1], roc.tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert roc.thresholds[0] == 1.0
