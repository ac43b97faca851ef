"""The reference trainer, run as a real process under the Vertex AI training contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import joblib
import pandas as pd
import pytest
from support.dockerfiles import instructions

from trainer import TrainerError, data

# the reference trainer runs as real processes: `pytest -m 'not slow'` leaves them out.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CSV = REPO / "data" / "breast_cancer.csv"
TRAINERS = REPO / "trainers"
FEATURES = [c for c in pd.read_csv(CSV, nrows=0).columns if c not in ("id", "target")]
CONTRACT_VARS = ("AIP_", "CLOUD_ML_", "CLUSTER_SPEC", "TF_CONFIG", "VTP_GCS_ROOT")


def run_trainer(tmp: Path, *args: str, **env_vars: str) -> subprocess.CompletedProcess:
    """`python -m trainer.task ARGS` with a clean contract environment plus `env_vars`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONTRACT_VARS)}
    env["CLOUD_ML_HP_METRIC_FILE"] = str(tmp / "hypertune" / "output.metrics")
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-m", "trainer.task", *args],
        cwd=REPO / "trainers",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def metric_lines(tmp: Path) -> list[dict]:
    text = (tmp / "hypertune" / "output.metrics").read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> dict[str, Path]:
    """Parquet train/validation splits of the shipped data, split on `id`."""
    root = tmp_path_factory.mktemp("splits")
    frame = pd.read_csv(CSV)
    paths = {"train": root / "train.parquet", "validation": root / "validation.parquet"}
    frame[frame["id"] % 5 != 0].to_parquet(paths["train"], index=False)
    frame[frame["id"] % 5 == 0].to_parquet(paths["validation"], index=False)
    return paths


@pytest.fixture(scope="module")
def trained(splits, tmp_path_factory) -> dict:
    """One trial-like run: Parquet splits, AIP_* variables, integer hyperparameters as `64.0`."""
    tmp = tmp_path_factory.mktemp("trained")
    base = tmp / "output"
    proc = run_trainer(
        tmp,
        "--max-iter=64.0",
        "--max-depth=6.0",
        "--min-samples-leaf=10.0",
        "--learning-rate=0.1",
        AIP_TRAINING_DATA_URI=str(splits["train"]),
        AIP_VALIDATION_DATA_URI=str(splits["validation"]),
        AIP_MODEL_DIR=f"{base}/7/model/",
        AIP_CHECKPOINT_DIR=f"{base}/7/checkpoints/",
        AIP_TENSORBOARD_LOG_DIR=f"{base}/7/logs/",
        CLOUD_ML_TRIAL_ID="7",
    )
    assert proc.returncode == 0, proc.stderr
    model_dir = base / "7" / "model"
    return {
        "tmp": tmp,
        "proc": proc,
        "model_dir": model_dir,
        "logs_dir": base / "7" / "logs",
        "metadata": json.loads((model_dir / "model_metadata.json").read_text()),
    }


def test_model_predicts_on_plain_lists(trained, splits):
    estimator = joblib.load(trained["model_dir"] / "model.joblib")
    validation = pd.read_parquet(splits["validation"])
    instances = validation[trained["metadata"]["feature_names"]].to_numpy().tolist()
    assert isinstance(instances[0], list) and isinstance(instances[0][0], float)
    predictions = estimator.predict(instances)
    assert len(predictions) == len(instances)
    assert set(predictions.tolist()) <= {0, 1}
    accuracy = (predictions == validation["target"].to_numpy()).mean()
    assert accuracy > 0.9


def test_metadata(trained, splits):
    meta = trained["metadata"]
    assert meta["feature_names"] == FEATURES
    assert meta["target_column"] == "target"
    assert meta["classes"] == [0, 1]
    assert meta["hyperparameters"]["max_iter"] == 64
    assert isinstance(meta["hyperparameters"]["max_iter"], int)
    assert meta["hyperparameters"]["max_depth"] == 6
    assert meta["hyperparameters"]["min_samples_leaf"] == 10
    assert meta["n_iter"] == 64
    assert meta["validation"] == {"source": str(splits["validation"]), "rows": 114}
    assert meta["training_rows"] == 455
    assert meta["metric"] == "auc" and meta["metric_goal"] == "MAXIMIZE"
    assert meta["task"] == "binary" and meta["categorical_features"] == []
    assert set(meta["validation_metrics"]) == {
        "auc",
        "accuracy",
        "log_loss",
        "f1",
        "precision",
        "recall",
    }
    assert meta["validation_metrics"]["auc"] > 0.95
    assert meta["trial_id"] == "7"
    assert re.fullmatch(r"\d+\.\d+.*", meta["sklearn_version"])


def test_hypertune_metric_file(trained):
    """The curve of `--metric` (auc by default) every 10 iterations, then every metric of the
    task at the last step, each under its own tag (so any of them can be a study's metric)."""
    lines = metric_lines(trained["tmp"])
    for line in lines:
        (tag,) = set(line) - {"checkpoint_path", "global_step", "timestamp", "trial"}
        assert line["trial"] == "7"
        assert isinstance(line[tag], str) and isinstance(line["global_step"], str)
        float(line[tag])
    curve = [int(line["global_step"]) for line in lines if "auc" in line]
    assert curve == [10, 20, 30, 40, 50, 60, 64]
    final = {
        tag: float(value)
        for line in lines
        if line["global_step"] == "64"
        for tag, value in line.items()
        if tag not in ("checkpoint_path", "global_step", "timestamp", "trial")
    }
    assert final == pytest.approx(trained["metadata"]["validation_metrics"])
    out = trained["proc"].stdout
    assert "reported accuracy, auc, f1, log_loss, precision, recall at step 64" in out
    assert "training data: 455 rows, 30 features (0 categorical)" in out


def test_logs_dir_gets_the_metric_curve(trained):
    payload = json.loads((trained["logs_dir"] / "metrics.json").read_text())
    assert payload["metric"] == "auc"
    assert [step for step, _ in payload["curve"]] == [10, 20, 30, 40, 50, 60, 64]
    assert payload["final"] == trained["metadata"]["validation_metrics"]


def test_csv_input_holdout_and_gcs_model_dir(tmp_path):
    """CSV file, no validation data (20% held out), `gs://` model dir under the local mount."""
    proc = run_trainer(
        tmp_path,
        f"--training-data={CSV}",
        "--model-dir=gs://bucket/run/model/",
        "--metric=log_loss",
        "--report-every=0",
        "--max_iter=32.0",
        VTP_GCS_ROOT=str(tmp_path / "gcs"),
    )
    assert proc.returncode == 0, proc.stderr
    model_dir = tmp_path / "gcs" / "bucket" / "run" / "model"
    meta = json.loads((model_dir / "model_metadata.json").read_text())
    assert meta["validation"] == {"source": "holdout", "fraction": 0.2, "rows": 114}
    assert meta["training_rows"] == 455
    assert meta["hyperparameters"]["max_iter"] == 32
    assert meta["metric_goal"] == "MINIMIZE"
    lines = metric_lines(tmp_path)
    assert {line["global_step"] for line in lines} == {"32"}
    (line,) = [line for line in lines if "log_loss" in line]
    assert float(line["log_loss"]) == pytest.approx(meta["validation_metrics"]["log_loss"])
    assert joblib.load(model_dir / "model.joblib").predict([[0.0] * 30]).shape == (1,)


def test_directory_of_mixed_files(tmp_path, splits):
    """A directory holding a Parquet part without suffix and a CSV part is one table."""
    parts = tmp_path / "train"
    parts.mkdir()
    frame = pd.read_parquet(splits["train"])
    frame.iloc[:200].to_parquet(parts / "part-00000", index=False)
    frame.iloc[200:].to_csv(parts / "part-00001.csv", index=False)
    (parts / "_SUCCESS").write_text("")
    proc = run_trainer(
        tmp_path,
        "--max-iter=20",
        AIP_TRAINING_DATA_URI=f"{parts}/",
        AIP_VALIDATION_DATA_URI=str(splits["validation"]),
        AIP_MODEL_DIR=f"{tmp_path}/model/",
    )
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "model" / "model_metadata.json").read_text())
    assert meta["training_rows"] == 455


def test_read_table_forms(tmp_path):
    frame = pd.read_csv(CSV)
    (tmp_path / "a.csv").write_text(frame.iloc[:100].to_csv(index=False))
    frame.iloc[100:].to_parquet(tmp_path / "b.parquet", index=False)
    assert len(data.read_table(str(tmp_path))) == 569
    assert len(data.read_table(f"{tmp_path}/*.parquet")) == 469
    assert len(data.read_table(str(tmp_path / "a.csv"))) == 100
    assert data.read_table(str(tmp_path)).columns.tolist() == frame.columns.tolist()


def test_gcs_uris_map_to_the_fuse_mount(monkeypatch):
    monkeypatch.delenv("VTP_GCS_ROOT", raising=False)
    assert data.local_path("gs://bucket/data/train.csv") == "/gcs/bucket/data/train.csv"
    assert data.local_path("gs://bucket/out/model/") == "/gcs/bucket/out/model/"
    assert data.local_path("/gcs/bucket/x") == "/gcs/bucket/x"
    assert data.local_path("relative/x.csv") == "relative/x.csv"
    monkeypatch.setenv("VTP_GCS_ROOT", "/tmp/vtp/gcs")
    assert data.local_path("gs://bucket/x") == "/tmp/vtp/gcs/bucket/x"
    with pytest.raises(TrainerError, match="no bucket"):
        data.local_path("gs://")
    with pytest.raises(TrainerError, match="not supported"):
        data.list_files("bq://project.dataset.table")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--target-column=label"], 1, "--target-column 'label' is not a column"),
        (["--metric=rmse"], 1, "--metric 'rmse' is not a binary metric: choose one of auc"),
        (["--metric=mape"], 2, "invalid choice: 'mape'"),
        (["--max-iter=64.5"], 2, "must be an integer (64 or 64.0), got '64.5'"),
        (["--training-data={empty}"], 1, "no data files found"),
        (["--training-data="], 1, "no --training-data: pass --training-data=URI"),
    ],
    ids=[
        "missing-target",
        "metric-of-another-task",
        "unknown-metric",
        "non-integer",
        "no-data",
        "no-training-data",
    ],
)
def test_bad_input_exits_non_zero(tmp_path, args, code, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty") for a in args]
    env = {"AIP_MODEL_DIR": f"{tmp_path}/model/"}
    if not any(a.startswith("--training-data") for a in args):
        env["AIP_TRAINING_DATA_URI"] = str(CSV)
    proc = run_trainer(tmp_path, *args, **env)
    assert proc.returncode == code
    assert message in proc.stderr
    assert not (tmp_path / "model" / "model.joblib").exists()


# Dockerfiles ---------------------------------------------------------------------------------


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def installed_packages(dockerfile: Path) -> set[str]:
    """Packages that the Dockerfile's `pip install` commands name or read from `-r` files."""
    copies = {}
    for keyword, rest in instructions(dockerfile):
        if keyword == "COPY":
            src, dest = rest.split()[-2:]
            copies[dest] = REPO / src
    names: set[str] = set()
    for keyword, rest in instructions(dockerfile):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            tokens = command.split()
            if "pip" not in " ".join(tokens[:4]) or "install" not in tokens:
                continue
            args = tokens[tokens.index("install") + 1 :]
            for i, token in enumerate(args):
                if token in ("-r", "--requirement"):
                    names |= requirement_names(copies[args[i + 1]])
                elif not token.startswith("-") and (i == 0 or args[i - 1] not in ("-r",)):
                    names.add(re.split(r"[<>=!~\[]", token)[0].lower())
    return names


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfile_installs_the_requirements(name):
    dockerfile = TRAINERS / name
    required = requirement_names(TRAINERS / "requirements.txt")
    assert {"scikit-learn", "pandas", "pyarrow", "joblib", "cloudml-hypertune"} <= required
    installed = installed_packages(dockerfile)
    assert "cloudml-hypertune" in installed
    assert required <= installed, required - installed
    steps = instructions(dockerfile)
    entrypoint = [json.loads(rest) for keyword, rest in steps if keyword == "ENTRYPOINT"]
    assert entrypoint == [["python", "-m", "trainer.task"]]
    assert ("COPY", "trainers/trainer/ /app/trainer/") in steps
    base = next(rest for keyword, rest in steps if keyword == "FROM")
    if name == "Dockerfile":
        assert base == "python:3.11-slim"
    else:
        assert base.startswith("nvidia/cuda:") and "cudnn" in base and "runtime" in base
        assert "python3.11" in " ".join(rest for keyword, rest in steps if keyword == "RUN")


def test_requirements_are_pinned():
    lines = [
        line.strip()
        for line in (TRAINERS / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", line) for line in lines)


def test_requirements_match_the_project_pins():
    """The trainer image and the component image (which evaluates the model) agree."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    project_pins = dict(dep.split("==", 1) for dep in project if "==" in dep)
    trainer_pins = dict(
        line.split("==", 1)
        for line in (TRAINERS / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    shared = set(project_pins) & set(trainer_pins)
    assert {"scikit-learn", "joblib", "cloudml-hypertune"} <= shared
    assert {n: trainer_pins[n] for n in shared} == {n: project_pins[n] for n in shared}
