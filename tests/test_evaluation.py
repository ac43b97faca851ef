"""evaluate_model on models really trained: by the reference trainer (binary, multi-class and
regression, string features) and by XGBoost and LightGBM as their own docs write trainers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from google_cloud_pipeline_components.types.artifact_types import (
    RegressionMetrics,
    UnmanagedContainerModel,
)
from kfp import dsl

from vtp.components.evaluation import evaluate, evaluate_model
from vtp.components.evaluation.metrics import MAX_ROC_POINTS, roc_points
from vtp.errors import DataError, SpecError

# the models evaluated here are trained by the reference trainer, as processes
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CSV = REPO / "data" / "breast_cancer.csv"


def train(tmp: Path, train_path: Path, model_dir: Path, *args: str, **env_vars: str) -> None:
    """Runs the reference trainer as a process, as a Vertex custom job would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "CLOUD_ML_"))}
    env |= {
        "AIP_TRAINING_DATA_URI": str(train_path),
        "AIP_MODEL_DIR": f"{model_dir}/",
        "CLOUD_ML_HP_METRIC_FILE": str(tmp / "hypertune.metrics"),
        **env_vars,
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
    regression = RegressionMetrics(uri=str(out / "regression_metrics"))
    outputs = evaluate_model.python_func(
        model=model,
        test=test,
        metrics=metrics,
        classification_metrics=classification,
        regression_metrics=regression,
        **params,
    )
    run_component.regression = regression
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
        "primary_metric must be a metric measured for this binary model: one of accuracy, auc, "
        "f1, log_loss, precision, recall, got 'rmse'"
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
    with pytest.raises(DataError, match=r"holds none of model\.joblib, model\.pkl, model\.bst"):
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
    assert set(metrics.metadata) == {"accuracy", "auc_ovr", "f1_macro", "log_loss", "test_rows"}
    assert metrics.metadata["accuracy"] > 0.85
    assert outputs.primary_metric_value == metrics.metadata["f1_macro"]
    matrix = classification.metadata["confusionMatrix"]
    assert [s["displayName"] for s in matrix["annotationSpecs"]] == ["0", "1", "2"]
    assert sum(sum(r["row"]) for r in matrix["rows"]) == 38
    assert "confidenceMetrics" not in classification.metadata  # KFP's one curve: binary only
    curves = classification.metadata["oneVsRestRoc"]
    assert [c["class"] for c in curves] == ["0", "1", "2"]
    aucs = [c["auc"] for c in curves]
    assert all(0.5 < a <= 1.0 for a in aucs)
    assert metrics.metadata["auc_ovr"] == pytest.approx(sum(aucs) / 3)  # sklearn's macro OvR
    for curve in curves:
        points = curve["confidenceMetrics"]
        assert points[0]["falsePositiveRate"] == 0.0 and points[-1]["recall"] == 1.0
        fprs = [p["falsePositiveRate"] for p in points]
        assert fprs == sorted(fprs)
    with pytest.raises(SpecError, match="one of accuracy, auc_ovr, f1_macro, log_loss, got 'auc'"):
        run_component(str(tmp_path / "model"), str(tmp_path / "test.csv"), tmp_path)
    with pytest.raises(DataError, match="task is 'binary' but the model .* of 3 classes"):
        run_component(str(tmp_path / "model"), str(tmp_path / "test.csv"), tmp_path, task="binary")


def test_regression_sample_is_evenly_spaced_and_bounded():
    from vtp.components.evaluation.metrics import MAX_REGRESSION_POINTS, regression_sample

    assert regression_sample(3).tolist() == [0, 1, 2]
    kept = regression_sample(10_000)
    assert len(kept) == MAX_REGRESSION_POINTS and kept[0] == 0 and kept[-1] == 9_999
    assert (np.diff(kept) > 0).all()


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


def regression_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A numeric target from two numbers and a string category, with missing categories."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue", None], size=rows),
            "x2": rng.normal(size=rows),
        }
    )
    frame["price"] = 3 * frame["x1"] + 5 * (frame["colour"] == "red") + rng.normal(size=rows) / 10
    return frame


def write_shards(frame: pd.DataFrame, directory: Path, prefix: str, fmt: str, shards: int = 2):
    """`frame` as `<prefix>-0000i-of-0000n.<fmt>` files, as vtp's splits are written."""
    directory.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(frame), shards + 1).astype(int)
    for i in range(shards):
        part = frame.iloc[bounds[i] : bounds[i + 1]]
        path = directory / f"{prefix}-{i:05d}-of-{shards:05d}.{fmt}"
        if fmt == "csv":
            part.to_csv(path, index=False)
        elif fmt == "jsonl":
            part.to_json(path, orient="records", lines=True)
        else:
            part.to_parquet(path, index=False)


def test_regression_with_a_string_feature_from_csv_shards(tmp_path):
    frame = regression_frame()
    write_shards(frame.iloc[:500], tmp_path / "train", "training", "csv")
    write_shards(frame.iloc[500:], tmp_path / "test", "test", "csv")
    train(
        tmp_path,
        tmp_path / "train" / "training-*",
        tmp_path / "model",
        "--target-column=price",
        "--max_iter=60",
    )
    meta = json.loads((tmp_path / "model" / "model_metadata.json").read_text())
    assert meta["task"] == "regression" and meta["categorical_features"] == ["colour"]
    assert "classes" not in meta
    outputs, metrics, classification = run_component(
        str(tmp_path / "model"),
        str(tmp_path / "test"),
        tmp_path,
        target_column="price",
        primary_metric="rmse",
    )
    assert {"rmse", "mae", "r2", "residual_mean", "residual_p50", "test_rows"} <= set(
        metrics.metadata
    )
    assert metrics.metadata["r2"] > 0.9 and outputs.primary_metric_value < 1.0
    regression = dict(run_component.regression.metadata)
    actual, predicted = regression.pop("actualValues"), regression.pop("predictedValues")
    assert regression == {
        "rootMeanSquaredError": metrics.metadata["rmse"],
        "meanAbsoluteError": metrics.metadata["mae"],
        "rSquared": metrics.metadata["r2"],
    }
    # every test row (100 < MAX_REGRESSION_POINTS), in order, for vtp ui's plots
    assert actual == frame["price"].iloc[500:].tolist()
    residuals = np.array(actual) - np.array(predicted)
    assert np.sqrt(np.mean(residuals**2)) == pytest.approx(metrics.metadata["rmse"])
    assert classification.metadata == {}
    with pytest.raises(DataError, match="task is 'multiclass' but the model .* a regressor"):
        evaluate(str(tmp_path / "model"), str(tmp_path / "test"), "price", task="multiclass")


def test_a_model_that_needs_column_names_is_told_what_the_container_passes(tmp_path):
    """Vertex's prebuilt scikit-learn container calls `predict` on a plain array of the
    instances: a pipeline that selects columns by name cannot take it, and the evaluation
    (which feeds the rows the same way) says so rather than ending in scikit-learn's own
    traceback."""
    import joblib
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = regression_frame()
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"), Ridge()
    )
    model.fit(frame.drop(columns=["price"]), frame["price"])
    (tmp_path / "model").mkdir()
    joblib.dump(model, tmp_path / "model" / "model.joblib")
    frame.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(DataError, match="cannot predict rows as Vertex's prebuilt prediction"):
        evaluate(str(tmp_path / "model"), str(tmp_path / "test.csv"), "price", task="regression")


def test_multiclass_strings_from_jsonl_shards(tmp_path):
    frame = regression_frame(seed=1)
    frame["band"] = pd.cut(frame["price"], [-99, -1, 1, 4, 99], labels=["lo", "mid", "hi", "top"])
    frame = frame.drop(columns=["price"]).astype({"band": str})
    write_shards(frame.iloc[:500], tmp_path / "train", "training", "jsonl")
    write_shards(frame.iloc[500:], tmp_path / "test", "test", "jsonl")
    train(
        tmp_path,
        tmp_path / "train" / "training-*",
        tmp_path / "model",
        "--target-column=band",
        "--max_iter=40",
        AIP_DATA_FORMAT="jsonl",
    )
    result = evaluate(str(tmp_path / "model"), str(tmp_path / "test"), "band", ())
    assert result.task == "multiclass" and result.classes == ["hi", "lo", "mid", "top"]
    assert set(result.scalars) == {"accuracy", "f1_macro", "log_loss", "auc_ovr"}
    assert sum(map(sum, result.confusion_matrix)) == 100


def xgboost_model(tmp_path: Path, frame: pd.DataFrame, target: str, params: dict) -> Path:
    """`model.bst` written as XGBoost's docs write it (Booster.save_model)."""
    import xgboost as xgb

    features = frame.drop(columns=[target])
    booster = xgb.train(params, xgb.DMatrix(features, label=frame[target]), num_boost_round=20)
    model_dir = tmp_path / "xgb"
    model_dir.mkdir(parents=True)
    booster.save_model(model_dir / "model.bst")
    return model_dir


def test_xgboost_model_bst(tmp_path):
    frame = pd.read_csv(CSV).drop(columns=["id"])
    model_dir = xgboost_model(
        tmp_path, frame.iloc[:450], "target", {"objective": "binary:logistic"}
    )
    result = evaluate(str(model_dir), str(CSV), "target", ("id",))
    assert result.task == "binary" and result.scalars["auc"] > 0.95
    frame.iloc[450:].to_csv(tmp_path / "test.csv", index=False)
    result = evaluate(str(model_dir), str(tmp_path / "test.csv"), "target", ())
    assert result.rows == len(frame) - 450

    reg = regression_frame().drop(columns=["colour"])
    model_dir = xgboost_model(tmp_path / "r", reg, "price", {"objective": "reg:squarederror"})
    result = evaluate(str(model_dir), str(_csv(tmp_path, reg)), "price", ())
    assert result.task == "regression" and result.scalars["r2"] > 0.8


def _csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "frame.csv"
    frame.to_csv(path, index=False)
    return path


def test_lightgbm_sklearn_api_model_joblib(tmp_path):
    import joblib
    import lightgbm as lgb

    frame = pd.read_csv(CSV).drop(columns=["id"])
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(
        frame.drop(columns=["target"]).to_numpy(), frame["target"]
    )
    (tmp_path / "lgb").mkdir()
    joblib.dump(model, tmp_path / "lgb" / "model.joblib")
    result = evaluate(str(tmp_path / "lgb"), str(CSV), "target", ("id",))
    assert result.task == "binary" and result.scalars["auc"] > 0.95


def test_trainer_and_evaluator_share_one_metric_vocabulary():
    from trainer import model as trainer_model
    from vtp.components.evaluation import tasks

    assert trainer_model.METRICS == tasks.METRICS
    assert trainer_model.TASKS == tasks.TASKS
    assert {t: tasks.default_metric(t) for t in tasks.TASKS} == trainer_model.DEFAULT_METRICS
