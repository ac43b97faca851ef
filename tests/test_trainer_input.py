"""The trainer as an input of the job-spec components: its two forms, its arguments exactly as
Vertex passes them, the splits as Vertex's managed-dataset variables, and the checks that run
before a pipeline starts.

The component tests call `training_job_spec.python_func` with real kfp artifacts pointing at
real split directories written in vtp's shard layout (`training-00000-of-00002.csv`...), as
`load_dataset` writes them; every payload is validated against `aiplatform_v1` by the typed
builders.
"""

from __future__ import annotations

import pandas as pd
import pytest
from kfp import dsl

from vtp.check.params import check_task_and_metric, check_trainer, flag_values
from vtp.components.specs.prebuilt_training import (
    SOURCE_URL,
    check_executor_image,
    is_prebuilt_training_image,
)
from vtp.components.training import training_job_spec
from vtp.components.training.data_env import data_env, split_format, split_uri
from vtp.components.training.payload import training_job
from vtp.components.training.trainer import Trainer, hyperparameter_args
from vtp.errors import SpecError

SKLEARN = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"
PACKAGE = {
    "package_uris": ["gs://b/trainers/t-0.1.tar.gz"],
    "python_module": "trainer.task",
    "executor_image_uri": SKLEARN,
}


def pool_of(trainer: Trainer, **kw) -> dict:
    job = training_job(
        trainer=trainer, machine_type="n1-standard-4", base_output_directory="gs://b/o", **kw
    )
    (pool,) = job.worker_pool_specs()
    return pool


def test_an_image_runs_its_own_entrypoint_with_exactly_the_configured_arguments():
    pool = pool_of(
        Trainer(trainer_image="my-trainer:1", trainer_args=["--verbose"]),
        hyperparameters={"max_depth": 6.0, "learning_rate": 0.1, "kind": "gbdt"},
    )
    assert pool["container_spec"] == {
        "image_uri": "my-trainer:1",
        "args": ["--verbose", "--kind=gbdt", "--learning_rate=0.1", "--max_depth=6"],
    }  # no command: the image's ENTRYPOINT; names unchanged; nothing else appended
    pool = pool_of(Trainer(trainer_image="my-trainer:1", trainer_command=["python", "t.py"]))
    assert pool["container_spec"] == {"image_uri": "my-trainer:1", "command": ["python", "t.py"]}


def test_a_python_package_runs_its_module_on_a_prebuilt_image():
    pool = pool_of(Trainer(**PACKAGE, trainer_args=["--epochs=3"]), hyperparameters={"C": 1})
    assert pool["python_package_spec"] == {**PACKAGE, "args": ["--epochs=3", "--C=1"]}
    assert "container_spec" not in pool


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "trainer_image must be a training container image"),
        ({**PACKAGE, "package_uris": []}, "package_uris must list the gs:// source"),
        ({**PACKAGE, "trainer_command": ["python"]}, "trainer_command must be empty"),
        ({**PACKAGE, "executor_image_uri": "my-image:1"}, "prebuilt training containers"),
        ({"package_uris": ["gs://b/t.tar.gz"]}, "python_module must name the module"),
        ({"trainer_image": "i", "trainer_args": "--x"}, "trainer_args must be a list"),
    ],
)
def test_the_trainer_is_refused_naming_the_parameter(fields, message):
    with pytest.raises(SpecError, match=message):
        Trainer(**fields)


def test_hyperparameters_keep_their_names():
    assert hyperparameter_args({"max_iter": 64.0, "lr": 0.5, "n-est": 3}) == [
        "--lr=0.5",
        "--max_iter=64",
        "--n-est=3",
    ]
    for bad in ({"x": float("nan")}, {"x": None}, {"a b": 1}):
        with pytest.raises(SpecError, match="hyperparameters"):
            hyperparameter_args(bad)


def test_prebuilt_training_images():
    for uri in (
        SKLEARN,
        "europe-docker.pkg.dev/vertex-ai/training/xgboost-cpu.1-1:latest",
        "asia-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest",
        "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310",
    ):
        assert is_prebuilt_training_image(uri), uri
    for uri in (
        "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:1.2",  # only :latest
        "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest",  # a serving image
        "us-docker.pkg.dev/my-proj/training/sklearn-cpu.1-0:latest",
        "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.9-9:latest",
    ):
        assert not is_prebuilt_training_image(uri), uri
    with pytest.raises(SpecError) as caught:
        check_executor_image("python:3.11")
    assert SOURCE_URL in str(caught.value) and "set trainer_image instead" in str(caught.value)


def write_split(directory, prefix: str, fmt: str, frame: pd.DataFrame, shards: int = 2) -> None:
    """A split as load_dataset writes it: `<prefix>-0000i-of-0000n.<fmt>` shards."""
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-len(frame) // shards)
    for i in range(shards):
        part = frame.iloc[i * size : (i + 1) * size]
        path = directory / f"{prefix}-{i:05d}-of-{shards:05d}.{fmt}"
        if fmt == "csv":
            part.to_csv(path, index=False)
        else:
            part.to_json(path, orient="records", lines=True)


@pytest.fixture
def splits(tmp_path, monkeypatch):
    """Three split artifacts under the local Cloud Storage root, in the shard layout."""
    gcs = tmp_path / "gcs"
    monkeypatch.setenv("VTP_GCS_ROOT", str(gcs))
    root = gcs / "root" / "run-1" / "load-dataset"
    frame = pd.DataFrame({"x": range(10), "target": [0, 1] * 5})
    artifacts = {}
    for name, prefix in (("train", "training"), ("validation", "validation"), ("test", "test")):
        write_split(root / name, prefix, "csv", frame)
        artifacts[name] = dsl.Dataset(uri=str(root / name))
    return artifacts


def test_the_job_spec_component_hands_the_splits_over_as_vertex_does(splits):
    outputs = training_job_spec.python_func(
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        machine_type="n1-standard-4",
        trainer_image="my-trainer:1",
        hyperparameters={"C": 0.5},
        staging_root="gs://root/staging",
        job_id="job-7",
    )
    (pool,) = outputs.worker_pool_specs
    env = {e["name"]: e["value"] for e in pool["container_spec"]["env"]}
    assert env == {
        "AIP_TRAINING_DATA_URI": "gs://root/run-1/load-dataset/train/training-*",
        "AIP_VALIDATION_DATA_URI": "gs://root/run-1/load-dataset/validation/validation-*",
        "AIP_TEST_DATA_URI": "gs://root/run-1/load-dataset/test/test-*",
        "AIP_DATA_FORMAT": "csv",
    }
    assert pool["container_spec"]["args"] == ["--C=0.5"]
    assert outputs.model_dir == "gs://root/staging/job-7/custom-job/model/"

    # the loader's metadata wins over what is on disk; the test split is optional
    splits["train"].metadata.update(
        {"data_uri": str(splits["train"].path) + "/training-*", "data_format": "jsonl"}
    )
    outputs = training_job_spec.python_func(
        train=splits["train"],
        validation=splits["validation"],
        machine_type="n1-standard-4",
        **PACKAGE,
        staging_root="gs://root/staging",
        job_id="job-8",
    )
    (pool,) = outputs.worker_pool_specs
    env = {e["name"]: e["value"] for e in pool["python_package_spec"]["env"]}
    assert env["AIP_DATA_FORMAT"] == "jsonl" and "AIP_TEST_DATA_URI" not in env
    assert env["AIP_TRAINING_DATA_URI"] == "gs://root/run-1/load-dataset/train/training-*"


def test_split_uris_and_formats_from_what_is_on_disk(tmp_path):
    frame = pd.DataFrame({"a": [1, 2]})
    frame.to_parquet(tmp_path / "single")
    assert split_uri(str(tmp_path / "single"), {}, "training") == str(tmp_path / "single")
    assert split_format(str(tmp_path / "single"), {}) == "parquet"
    write_split(tmp_path / "dir", "training", "jsonl", frame)
    assert split_uri(str(tmp_path / "dir"), {}, "training") == f"{tmp_path / 'dir'}/training-*"
    assert split_format(str(tmp_path / "dir"), {}) == "jsonl"
    write_split(tmp_path / "other", "part", "csv", frame)  # one prefix, whatever its name
    assert split_uri(str(tmp_path / "other"), {}, "test") == f"{tmp_path / 'other'}/part-*"
    write_split(tmp_path / "val", "validation", "csv", frame)
    env = data_env({"validation": (str(tmp_path / "val"), {})})
    assert env == {"AIP_VALIDATION_DATA_URI": f"{tmp_path / 'val'}/validation-*"}


def test_flags_restating_pipeline_parameters_must_agree():
    values = {
        "trainer_image": "vtp-trainer:0.1.0",
        "trainer_args": ["--target-column=target", "--exclude_columns", "id, fold"],
        "target_column": "target",
        "exclude_columns": "fold,id",
    }
    check_trainer(values)
    with pytest.raises(SpecError, match=r"must agree with target_column='label'"):
        check_trainer({**values, "target_column": "label"})
    with pytest.raises(SpecError, match="exclude_columns"):
        check_trainer({**values, "exclude_columns": "id"})
    assert flag_values(["--metric", "auc", "--metric=f1", "--metrics=x"], "--metric") == [
        "auc",
        "f1",
    ]


def test_a_metric_that_does_not_fit_the_task_is_refused_naming_the_allowed_ones():
    check_task_and_metric({"task": "auto", "primary_metric": "anything"})  # the loader checks
    check_task_and_metric({"task": "regression", "primary_metric": "r2", "metric_goal": "maximize"})
    with pytest.raises(SpecError) as caught:
        check_task_and_metric({"task": "multiclass", "primary_metric": "auc"})
    assert str(caught.value) == (
        "primary_metric must be a multiclass metric: one of accuracy, f1_macro, log_loss, "
        "auc_ovr, got 'auc'"
    )
    with pytest.raises(SpecError, match="metric_goal must be 'minimize' for rmse"):
        check_task_and_metric(
            {"task": "regression", "primary_metric": "rmse", "metric_goal": "maximize"}
        )
    with pytest.raises(SpecError, match="task must be one of auto, binary"):
        check_task_and_metric({"task": "ranking", "primary_metric": "ndcg"})


def test_pipelines_check_their_trainer_before_a_run():
    from vtp import params
    from vtp.pipelines import training, tuning

    for module in (training, tuning):
        values = params.effective(module.build(), {"project": "p"})
        module.check_params(values)
        module.check_params({**values, **PACKAGE})
        with pytest.raises(SpecError, match="executor_image_uri"):
            module.check_params({**values, **PACKAGE, "executor_image_uri": "python:3"})
        with pytest.raises(SpecError, match="primary_metric must be a regression metric"):
            module.check_params({**values, "task": "regression"})
    values = params.effective(tuning.build(), {"project": "p"})
    with pytest.raises(SpecError, match="must make the trainer report the study's metric 'auc'"):
        tuning.check_params({**values, "trainer_args": ["--metric=accuracy"]})
