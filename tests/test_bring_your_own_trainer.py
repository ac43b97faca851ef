"""Trainers written elsewhere run through vtp's pipelines unchanged, both ways Vertex runs them.

`tests/fixtures/trainers/` holds three training applications written as their frameworks'
docs write them (a scikit-learn script with a strict `parse_args()`, an XGBoost package saving
`model.bst`, a LightGBM package). Each test copies them to a directory outside the repository
and runs `vtp` there as a real subprocess, through the training, tuning and distributed
pipelines; every trainer runs once as an image (a local image mapping: the image's
ENTRYPOINT, no `command` in the payload) and once as a Python package (built, staged and
installed in its own cached environment). The data are scikit-learn's bundled datasets written
as CSV: breast cancer (binary), wine (multi-class), diabetes (regression).

Each run must register the model the trainer wrote (its own file and estimator, not the
reference trainer's), give the trainer exactly the arguments it was configured with, and leave
the working directory as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
import yaml

from vtp.local.registry import LocalModelRegistry

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "trainers"
XGBOOST_SERVING = "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"
SKLEARN_TRAINING = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"
XGBOOST_TRAINING = "us-docker.pkg.dev/vertex-ai/training/xgboost-cpu.1-1:latest"


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> dict[str, Path]:
    """The trainers and the datasets, copied to a directory that is not the repository."""
    from sklearn.datasets import load_diabetes, load_wine

    root = tmp_path_factory.mktemp("team")
    shutil.copytree(FIXTURES, root / "trainers")
    data = root / "data"
    data.mkdir()
    shutil.copy(REPO / "data" / "breast_cancer.csv", data / "binary.csv")
    for name, loader in (("multiclass", load_wine), ("regression", load_diabetes)):
        frame = loader(as_frame=True).frame
        frame.insert(0, "id", range(len(frame)))
        frame.to_csv(data / f"{name}.csv", index=False)
    work = root / "work"
    work.mkdir()
    return {"root": root, "trainers": root / "trainers", "data": data, "work": work}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One vtp home for the module: the trainers' package environments are built once."""
    return tmp_path_factory.mktemp("vtp-home")


def vtp(outside, home, *args: str, image_commands: dict | None = None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("VTP_IMAGE_COMMANDS", None)
    if image_commands:
        env["VTP_IMAGE_COMMANDS"] = json.dumps(image_commands)
    before = sorted(p.name for p in outside["work"].iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "vtp", *args, "--home", str(home)],
        cwd=outside["work"],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    after = sorted(p.name for p in outside["work"].iterdir())
    assert after == before, f"vtp placed files in the working directory: {after}"
    return proc


#: Per trainer: its dataset, task, metric and the hyperparameters / search space it takes.
TRAINERS = {
    "sklearn_script": {
        "data": "binary",
        "task": "binary",
        "metric": "auc",
        "goal": "maximize",
        "threshold": 0.9,
        "hyperparameters": {"C": 0.5},
        "study": [
            {
                "parameter_id": "C",
                "double_value_spec": {"min_value": 0.01, "max_value": 10.0},
                "scale_type": "UNIT_LOG_SCALE",
            }
        ],
        "image": {"command": ["python", "task.py"], "workdir": "sklearn_script"},
        "executor": SKLEARN_TRAINING,
        "serving": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest",
        "model_file": "model.joblib",
    },
    "xgboost_trainer": {
        "data": "regression",
        "task": "regression",
        "metric": "rmse",
        "goal": "minimize",
        "threshold": 80.0,
        "hyperparameters": {"max_depth": 3, "eta": 0.1},
        "study": [
            {
                "parameter_id": "max_depth",
                "integer_value_spec": {"min_value": 2, "max_value": 5},
                "scale_type": "UNIT_LINEAR_SCALE",
            }
        ],
        "image": {"command": ["python", "-m", "trainer.task"], "pythonpath": ["xgboost_trainer"]},
        "executor": XGBOOST_TRAINING,
        "serving": XGBOOST_SERVING,
        "model_file": "model.bst",
    },
    "lightgbm_trainer": {
        "data": "multiclass",
        "task": "multiclass",
        "metric": "f1_macro",
        "goal": "maximize",
        "threshold": 0.8,
        "hyperparameters": {"num_leaves": 7, "n_estimators": 40},
        "study": [
            {
                "parameter_id": "learning_rate",
                "double_value_spec": {"min_value": 0.05, "max_value": 0.3},
                "scale_type": "UNIT_LINEAR_SCALE",
            }
        ],
        "image": {
            "command": ["python", "-m", "lgbm_trainer.task"],
            "pythonpath": ["lightgbm_trainer"],
        },
        "executor": SKLEARN_TRAINING,
        "serving": "us-docker.pkg.dev/my-team/serving/lightgbm:1",
        "model_file": "model.joblib",
    },
}

#: (trainer, pipeline, way): every trainer through every pipeline, each trainer both ways.
CASES = [
    ("sklearn_script", "training", "package"),
    ("sklearn_script", "tuning", "image"),
    ("sklearn_script", "distributed", "package"),
    ("xgboost_trainer", "training", "image"),
    ("xgboost_trainer", "tuning", "package"),
    ("xgboost_trainer", "distributed", "image"),
    ("lightgbm_trainer", "training", "package"),
    ("lightgbm_trainer", "tuning", "image"),
    ("lightgbm_trainer", "distributed", "package"),
]


def pipeline_params(name: str, pipeline: str, trainer: dict, outside) -> dict:
    params = {
        "data_source": str(outside["data"] / f"{trainer['data']}.csv"),
        "task": trainer["task"],
        "trainer_args": [],
        "primary_metric": trainer["metric"],
        "metric_goal": trainer["goal"],
        "exclude_columns": "id",
        "serving_image": trainer["serving"],
        "model_display_name": f"{name}-{pipeline}",
    }
    if pipeline == "tuning":
        goal = "MAXIMIZE" if trainer["goal"] == "maximize" else "MINIMIZE"
        params |= {
            "study_spec_metrics": [{"metric_id": trainer["metric"], "goal": goal}],
            "study_spec_parameters": trainer["study"],
            "max_trial_count": 2,
            "parallel_trial_count": 2,
        }
    else:
        params |= {"hyperparameters": trainer["hyperparameters"]}
        params["metric_threshold"] = trainer["threshold"]
    if pipeline == "distributed":
        params["worker_count"] = 1
    return params


def job_records(home: Path) -> dict[Path, dict]:
    """Every custom job's and tuning job's payload, as the twins recorded them, by file."""
    out = {}
    for kind, key in (("jobs", "job_spec"), ("tuning", "trial_job_spec")):
        for path in (home / kind).glob("*/job.json"):
            out[path] = json.loads(path.read_text())["job"][key]
    return out


@pytest.mark.parametrize(("name", "pipeline", "way"), CASES, ids=["-".join(c) for c in CASES])
def test_trainer_runs_unchanged_through_the_pipeline(outside, home, tmp_path, name, pipeline, way):
    trainer = TRAINERS[name]
    params = pipeline_params(name, pipeline, trainer, outside)
    source = outside["trainers"] / name
    image_commands = None
    extra: list[str] = []
    if way == "image":
        image = f"{name.replace('_', '-')}:1"
        mapping = dict(trainer["image"])
        if "workdir" in mapping:
            mapping["workdir"] = str(outside["trainers"] / mapping["workdir"])
        if "pythonpath" in mapping:
            mapping["pythonpath"] = [str(outside["trainers"] / p) for p in mapping["pythonpath"]]
        image_commands = {image: mapping}
        params["trainer_image"] = image
    elif pipeline == "tuning":  # packaged by its own command, then run with the parameters
        out = tmp_path / "trainer.yaml"
        packaged = vtp(
            outside,
            home,
            "trainer",
            "package",
            str(source if name != "sklearn_script" else source / "task.py"),
            "--executor-image",
            trainer["executor"],
            "--params-out",
            str(out),
        )
        assert packaged.returncode == 0, packaged.stderr
        params |= {k: v for k, v in yaml.safe_load(out.read_text()).items() if k != "trainer_args"}
        params.pop("hyperparameters", None)
    else:  # one command: --trainer
        extra = [
            "--trainer",
            str(source if name != "sklearn_script" else source / "task.py"),
            "--trainer-executor-image",
            trainer["executor"],
        ]
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    jobs_before = set(job_records(home))

    proc = vtp(
        outside,
        home,
        "run",
        pipeline,
        "--local",
        "--params",
        str(params_file),
        *extra,
        image_commands=image_commands,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    # the trainer got exactly what it was configured with, in the form chosen
    payloads = [spec for path, spec in job_records(home).items() if path not in jobs_before]
    assert len(payloads) == 1, "one custom job (or one tuning job) ran"
    pools = payloads[0]["worker_pool_specs"]
    if way == "image":
        spec = pools[0]["container_spec"]
        assert spec["image_uri"] == params["trainer_image"] and "command" not in spec
    else:
        spec = pools[0]["python_package_spec"]
        assert spec["executor_image_uri"] == trainer["executor"]
        assert spec["package_uris"][0].startswith("gs://vtp-staging/trainers/")
    if pipeline == "tuning":  # the trials got the study's values, nothing else
        (job,) = [p for p in job_records(home) if p not in jobs_before]
        trials = json.loads((job.parent / "trials.json").read_text())
        assert len(trials) == 2 and all(t["state"] == 4 for t in trials)
        assert "args" not in spec
    else:
        expected = [f"--{k}={v}" for k, v in sorted(trainer["hyperparameters"].items())]
        assert spec.get("args", []) == expected
    if pipeline == "distributed":
        assert pools[1]["replica_count"] == 1

    # the registered model is the one this trainer wrote
    registry = LocalModelRegistry(home / "registry.db")
    version = registry.get(params["model_display_name"])
    model_dir = home / "gcs" / version.artifact_uri[len("gs://") :]
    assert (model_dir / trainer["model_file"]).is_file()
    assert not (model_dir / "model_metadata.json").exists()  # the reference trainer writes one
    if trainer["model_file"] == "model.joblib":
        model = joblib.load(model_dir / "model.joblib")
        kind = {"sklearn_script": "Pipeline", "lightgbm_trainer": "LGBMClassifier"}[name]
        assert type(model).__name__ == kind
    record = json.loads(sorted((home / "runs").glob(f"{pipeline}-*/run.json"))[-1].read_text())
    evaluation = next(t for n, t in record["tasks"].items() if n.startswith("evaluate-model"))
    assert trainer["metric"] in evaluation["outputs"]["metrics"]["metadata"]


def test_an_unmapped_image_fails_before_any_step(outside, home):
    proc = vtp(
        outside,
        home,
        "run",
        "training",
        "--local",
        "--param",
        "trainer_image=their-trainer:2",
        "--param",
        f"data_source={outside['data'] / 'binary.csv'}",
    )
    assert proc.returncode == 2, proc.stderr
    assert "image 'their-trainer:2' runs its own ENTRYPOINT" in proc.stderr
    assert "VTP_IMAGE_COMMANDS" in proc.stderr and "--runtime docker" in proc.stderr
    assert "running pipeline" not in proc.stderr


def test_a_module_the_package_does_not_declare_fails_with_the_rule(outside, home):
    """A script that counts on the prebuilt image's scikit-learn stack without declaring it
    (no requirements.txt) fails here, and the failure says why and what to declare."""
    script = outside["root"] / "undeclared" / "task.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text("import joblib\n")
    proc = vtp(
        outside,
        home,
        "run",
        "training",
        "--local",
        "--trainer",
        str(script),
        "--param",
        f"data_source={outside['data'] / 'binary.csv'}",
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "ModuleNotFoundError: No module named 'joblib'" in proc.stderr
    assert "\nhint     'joblib' is not in the trainer's environment" in proc.stderr
    assert f"the prebuilt image {SKLEARN_TRAINING} may provide it" in proc.stderr


def test_a_metric_of_another_task_is_refused_before_training(outside, home):
    proc = vtp(
        outside,
        home,
        "run",
        "training",
        "--local",
        "--param",
        "task=regression",
        "--param",
        "primary_metric=auc",
        "--param",
        f"data_source={outside['data'] / 'regression.csv'}",
    )
    assert proc.returncode == 2
    assert "primary_metric must be a regression metric: one of rmse, mae, r2, got 'auc'" in (
        proc.stderr
    )
    assert "running pipeline" not in proc.stderr


@pytest.mark.parametrize("pipeline", ["training", "tuning"])
def test_reference_trainer_regression_and_multiclass(outside, home, tmp_path, pipeline):
    """The reference trainer (the default) on the regression and multi-class datasets: the
    task is detected, the metrics are the task's, the study reports the task's metric."""
    for task, metric, goal, threshold in (
        ("regression", "rmse", "minimize", 90.0),
        ("multiclass", "f1_macro", "maximize", 0.8),
    ):
        params = {
            "data_source": str(outside["data"] / f"{task}.csv"),
            "task": task,
            "primary_metric": metric,
            "metric_goal": goal,
            "model_display_name": f"reference-{task}-{pipeline}",
        }
        if pipeline == "tuning":
            params["study_spec_metrics"] = [{"metric_id": metric, "goal": goal.upper()}]
            params["max_trial_count"] = 2
        else:
            params["metric_threshold"] = threshold
        params_file = tmp_path / f"{task}.yaml"
        params_file.write_text(yaml.safe_dump(params))
        proc = vtp(outside, home, "run", pipeline, "--local", "--params", str(params_file))
        assert proc.returncode == 0, proc.stderr[-4000:]
        version = LocalModelRegistry(home / "registry.db").get(params["model_display_name"])
        model_dir = home / "gcs" / version.artifact_uri[len("gs://") :]
        meta = json.loads((model_dir / "model_metadata.json").read_text())
        assert meta["task"] == task
        assert metric in meta["validation_metrics"]
