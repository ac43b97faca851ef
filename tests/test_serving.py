"""`vtp models serve` and `vtp models predict`: registered models behind Vertex's prediction
contract.

Real parts: scikit-learn and XGBoost models trained here and registered in the SQLite
registry; the Vertex AI SDK's own model server and predictors (its Custom Prediction Routines)
running as a real `vtp models serve` process on loopback, spoken to over HTTP; batch files
written and read back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import psutil
import pytest

from vtp.local.registry import LocalModelRegistry
from vtp.local.replica_env import free_ports
from vtp.serving.batch import ERRORS, RESULTS, job_directory, read_instances
from vtp.serving.frameworks import NotServable, framework_of
from vtp.serving.instances import BadInstance, ModelShape, check_instances, check_request

REPO = Path(__file__).resolve().parents[1]
SKLEARN_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"
XGBOOST_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"


def _data() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(REPO / "data" / "breast_cancer.csv")
    return frame.drop(columns=["id", "target"]), frame["target"]


def _register(home: Path, name: str, model_dir_uri: str, image: str) -> LocalModelRegistry:
    registry = LocalModelRegistry(home / "registry.db")
    registry.upload(
        display_name=name, artifact_uri=model_dir_uri, container_spec={"imageUri": image}
    )
    return registry


@pytest.fixture
def sklearn_model(home: Path):
    """A logistic regression on the sample data, registered like a pipeline registers one
    (model.joblib + model_metadata.json under a gs:// artifact URI)."""
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    model = LogisticRegression(max_iter=5000).fit(x.to_numpy(), y)
    model_dir = home / "gcs" / "models" / "clf"
    model_dir.mkdir(parents=True)
    joblib.dump(model, model_dir / "model.joblib")
    (model_dir / "model_metadata.json").write_text(json.dumps({"feature_names": list(x.columns)}))
    _register(home, "clf", "gs://models/clf", SKLEARN_IMAGE)
    return model, x


# ------------------------------------------------------------------ instance checks (unit)


SHAPE = ModelShape(3, ("a", "b", "c"))


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ([[1, 2, 3]], "instances", "JSON object"),
        ({"instance": [[1, 2, 3]]}, "instances", "JSON object"),
        ({"instances": []}, "instances", "non-empty list"),
        ({"instances": {"a": 1}}, "instances", "non-empty list"),
        ({"instances": [{"a": 1, "b": 2, "c": 3}]}, "instances[0]", "list of feature values"),
        ({"instances": [[1, 2, 3], [1, 2]]}, "instances[1]", "has 2 values; the model takes 3"),
        ({"instances": [[1, 2, [3]]]}, "instances[0][2]", "feature 'c'"),
        ({"instances": [[1, True, 3]]}, "instances[0][1]", "number, a string or null"),
        ({"instances": [[1, 2, float("inf")]]}, "instances[0][2]", "finite"),
    ],
)
def test_bad_requests_name_the_field(body, field, text):
    with pytest.raises(BadInstance) as err:
        check_request(body, SHAPE)
    assert err.value.field == field and text in str(err.value)


def test_good_instances_pass_unchanged():
    rows = [[1, 2.5, "x"], [None, 0, -1]]
    assert check_instances(rows, SHAPE) is rows
    assert check_instances([[1]], ModelShape()) == [[1]]  # width unknown: any length


@pytest.mark.parametrize(
    ("image", "framework", "version"),
    [
        (SKLEARN_IMAGE, "sklearn", "1.6"),
        ("europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest", "sklearn", "1.5"),
        (XGBOOST_IMAGE, "xgboost", "2.1"),
    ],
)
def test_prebuilt_images_choose_the_predictor(image, framework, version):
    found = framework_of(image)
    assert (found.name, found.version) == (framework, version)


@pytest.mark.parametrize(
    "image",
    [
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-13:latest",
        "us-docker.pkg.dev/my-proj/images/my-server:1",
        "",
    ],
)
def test_other_images_are_refused_with_what_is_served(image):
    with pytest.raises(NotServable, match="scikit-learn and XGBoost"):
        framework_of(image)


def test_batch_job_directory_is_named_as_vertex_names_it(tmp_path):
    when = dt.datetime(2026, 12, 4, 15, 4, 5, 123456, tzinfo=dt.UTC)
    assert job_directory(tmp_path, "my model/v1", when).name == (
        "prediction-my_model_v1-2026_12_04T15_04_05_123Z"
    )


def test_instances_file_lines_that_are_not_json_are_reported_by_number(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("[1, 2]\n\n{oops\n[3, 4]\n")
    rows = list(read_instances(path))
    assert [(n, inst) for n, inst, _ in rows] == [(1, [1, 2]), (3, None), (4, [3, 4])]
    assert rows[1][2].startswith("line 3 is not JSON")


# --------------------------------------------------------------- batch predictions (vtp CLI)


def _vtp(*args: str, home: Path) -> subprocess.CompletedProcess:
    from support.cli import run_vtp

    return run_vtp(*args, home=home, timeout=120)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_predict_writes_vertex_batch_output_and_names_refused_lines(home, sklearn_model, tmp_path):
    model, x = sklearn_model
    rows = x.head(5).to_numpy().tolist()
    instances = tmp_path / "rows.jsonl"
    lines = [json.dumps(r) for r in rows[:3]] + ["[1, 2]", "not json", json.dumps(rows[3])]
    instances.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    proc = _vtp(
        "models", "predict", "clf", "--instances", str(instances), "--out", str(out), home=home
    )
    assert proc.returncode == 1, proc.stderr
    (job,) = out.iterdir()
    assert job.name.startswith("prediction-clf-")
    assert sorted(p.name for p in job.iterdir()) == sorted([RESULTS, ERRORS])
    results = _lines(job / RESULTS)
    assert [r["instance"] for r in results] == [*rows[:3], rows[3]]
    expected = model.predict(np.asarray([*rows[:3], rows[3]])).tolist()
    assert [r["prediction"] for r in results] == expected
    errors = _lines(job / ERRORS)
    assert [e["error"]["status"] for e in errors] == ["INVALID_ARGUMENT"] * 2
    messages = sorted(e["error"]["message"] for e in errors)
    assert messages[0].startswith("line 4: instance: has 2 values; the model takes 30 features")
    assert messages[1].startswith("line 5 is not JSON")
    assert "predicted   4" in proc.stdout and "refused     2" in proc.stdout


def test_predict_of_an_unknown_model_or_file_is_bad_input(home, sklearn_model, tmp_path):
    proc = _vtp("models", "predict", "nope", "--instances", str(tmp_path / "x"), home=home)
    assert proc.returncode == 2 and "nope" in proc.stderr
    proc = _vtp(
        "models", "predict", "clf", "--instances", str(tmp_path / "missing.jsonl"), home=home
    )
    assert proc.returncode == 2 and "is not a file" in proc.stderr


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*Saving model in the UBJSON format")
def test_xgboost_model_bst_is_predicted_like_the_prebuilt_container(home, tmp_path):
    import xgboost as xgb

    x, y = _data()
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x.to_numpy(), label=y.to_numpy()),
        num_boost_round=10,
    )
    model_dir = home / "gcs" / "models" / "xgb"
    model_dir.mkdir(parents=True)
    booster.save_model(model_dir / "model.bst")
    _register(home, "xgb", "gs://models/xgb", XGBOOST_IMAGE)
    rows = x.head(4).to_numpy().tolist()
    instances = tmp_path / "rows.jsonl"
    instances.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = _vtp(
        "models",
        "predict",
        "xgb",
        "--instances",
        str(instances),
        "--out",
        str(tmp_path / "o"),
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    (job,) = (tmp_path / "o").iterdir()
    got = [r["prediction"] for r in _lines(job / RESULTS)]
    assert np.allclose(got, booster.predict(xgb.DMatrix(np.asarray(rows))))


# ------------------------------------------------------------------- the server (vtp CLI)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _start_server(home: Path, name: str) -> tuple[subprocess.Popen, str, str]:
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vtp",
            "models",
            "serve",
            name,
            "--port",
            str(port),
            "--home",
            str(home),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    routes = {}
    while len(routes) < 2:
        line = proc.stdout.readline()
        assert line, f"server exited: {proc.wait()} {proc.stderr.read()}"
        kind, _, rest = line.partition(" ")
        if kind in ("predict", "health"):
            routes[kind] = rest.split()[-1]
    return proc, routes["predict"], routes["health"]


def _server_processes(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmd = proc.info["cmdline"] or []
            if "vtp.serving.model_server" in cmd and str(home) in (
                proc.environ().get("AIP_STORAGE_URI") or ""
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_serve_answers_predictions_refuses_bad_instances_and_stops_clean(home, sklearn_model):
    model, x = sklearn_model
    proc, predict_url, health_url = _start_server(home, "clf")
    try:
        assert "/v1/endpoints/local/deployedModels/" in predict_url and predict_url.endswith(
            ":predict"
        )
        with urllib.request.urlopen(health_url, timeout=10) as response:
            assert response.status == 200
        rows = x.head(3).to_numpy().tolist()
        status, body = _post(predict_url, json.dumps({"instances": rows}).encode())
        assert status == 200 and body == {"predictions": model.predict(np.asarray(rows)).tolist()}
        status, body = _post(
            predict_url, json.dumps({"instances": [rows[0], rows[1][:4]]}).encode()
        )
        assert status == 400
        assert body["detail"].startswith("instances[1]: has 4 values; the model takes 30 features")
        bad = [*rows[0][:-1], "abc"]
        status, body = _post(predict_url, json.dumps({"instances": [bad]}).encode())
        assert status == 400 and body["detail"].startswith("instances[0][29]: the model refused it")
        status, body = _post(predict_url, b'{"rows": []}')
        assert status == 400 and "instances" in body["detail"]
        assert _server_processes(home)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 130
    deadline = time.monotonic() + 5  # the server's group is stopped before vtp exits
    while _server_processes(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _server_processes(home)


@pytest.mark.slow
def test_serving_a_custom_image_model_is_refused_before_anything_starts(home, tmp_path):
    (home / "gcs" / "m").mkdir(parents=True)
    _register(home, "custom", "gs://m", "us-docker.pkg.dev/p/r/my-server:1")
    proc = _vtp("models", "serve", "custom", home=home)
    assert proc.returncode == 2
    assert "us-docker.pkg.dev/p/r/my-server:1" in proc.stderr and "prebuilt" in proc.stderr


@pytest.mark.slow
def test_the_model_the_training_pipeline_registered_serves_and_predicts(home, tmp_path):
    """End to end: `vtp run training --local`, then the registered version answers online and
    batch predictions for rows of the sample data (features in the trainer's recorded order)."""
    csv = REPO / "data" / "breast_cancer.csv"
    run = _vtp("run", "training", "--local", "--param", f"data_source={csv}", home=home)
    assert run.returncode == 0, run.stderr[-2000:]
    registry = LocalModelRegistry(home / "registry.db")
    version = registry.get("breast-cancer-classifier")
    model_dir = home / "gcs" / version.artifact_uri.removeprefix("gs://")
    features = json.loads((model_dir / "model_metadata.json").read_text())["feature_names"]
    frame = pd.read_csv(csv)
    rows = frame[features].head(6).to_numpy().tolist()
    expected = joblib.load(model_dir / "model.joblib").predict(np.asarray(rows)).tolist()
    assert set(expected) <= {0, 1}

    instances = tmp_path / "rows.jsonl"
    instances.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "batch"
    proc = _vtp(
        "models",
        "predict",
        "breast-cancer-classifier",
        "--instances",
        str(instances),
        "--out",
        str(out),
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    (job,) = out.iterdir()
    assert [r["prediction"] for r in _lines(job / RESULTS)] == expected

    server, predict_url, _ = _start_server(home, "breast-cancer-classifier@default")
    try:
        status, body = _post(predict_url, json.dumps({"instances": rows}).encode())
        assert status == 200 and body == {"predictions": expected}
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 130
