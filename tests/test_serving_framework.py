"""A registered model loads in the serving image it is registered with.

The reference trainer pins scikit-learn to the version of Vertex's newest prebuilt scikit-learn
prediction image (`sklearn-cpu.1-6`: scikit-learn 1.6, the newest in the Vertex AI SDK's list
of prebuilt prediction images), and so does vtp (evaluate_model unpickles the model in the
component image). This environment therefore holds the serving image's scikit-learn minor
version: the model is loaded and scored here, under that version. The model-artifact step,
which both targets run before the upload, refuses a model whose `model_metadata.json` records
another framework version than its prebuilt serving image, naming both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest
import sklearn
import yaml
from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel

from vtp import defaults
from vtp.components.models.serving import (
    Framework,
    check_serving_framework,
    prebuilt_framework,
)
from vtp.components.training import unmanaged_container_model
from vtp.errors import SpecError

REPO = Path(__file__).resolve().parents[1]
CSV = REPO / "data" / "breast_cancer.csv"
SKLEARN_1_6 = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"
SKLEARN_1_5 = "europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest"


def pin(text: str, name: str) -> str:
    (version,) = re.findall(rf"^\s*\"?{re.escape(name)}==([^\"\s,]+)", text, re.MULTILINE)
    return version


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (SKLEARN_1_6, Framework("scikit-learn", "1.6")),
        (SKLEARN_1_5, Framework("scikit-learn", "1.5")),
        (
            "asia-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest",
            Framework("xgboost", "2.1"),
        ),
        (
            "us-docker.pkg.dev/vertex-ai/prediction/tf2-gpu.2-15:latest",
            Framework("tensorflow", "2.15"),
        ),
        ("us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6", None),  # no :latest
        ("europe-docker.pkg.dev/p/r/my-server:1", None),
    ],
)
def test_prebuilt_images_name_their_framework_and_version(image, expected):
    assert prebuilt_framework(image) == expected


def test_the_pins_are_the_default_serving_images_version():
    served = prebuilt_framework(defaults.SKLEARN_SERVING_IMAGE)
    assert served == Framework("scikit-learn", "1.6")
    project = pin((REPO / "pyproject.toml").read_text(), "scikit-learn")
    trainer = pin((REPO / "trainers" / "requirements.txt").read_text(), "scikit-learn")
    assert project == trainer
    assert Framework("scikit-learn", project).minor == served.version
    assert Framework("scikit-learn", sklearn.__version__).minor == served.version  # this env


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    """A model written by the reference trainer, as a real process."""
    root = tmp_path_factory.mktemp("served")
    frame = pd.read_csv(CSV)
    frame[frame["id"] % 5 != 0].to_parquet(root / "train.parquet", index=False)
    frame[frame["id"] % 5 == 0].to_parquet(root / "validation.parquet", index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIP_", "CLOUD_ML_"))}
    env.update(
        AIP_TRAINING_DATA_URI=str(root / "train.parquet"),
        AIP_VALIDATION_DATA_URI=str(root / "validation.parquet"),
        AIP_MODEL_DIR=str(root / "model") + "/",
        CLOUD_ML_HP_METRIC_FILE=str(root / "hypertune.metrics"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "trainer.task", "--max-iter=30"],
        cwd=REPO / "trainers",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return root / "model"


@pytest.mark.slow  # a trainer process
def test_the_trainer_records_its_framework_and_the_model_loads_under_that_version(trained_model):
    metadata = json.loads((trained_model / "model_metadata.json").read_text())
    assert metadata["framework"] == "scikit-learn"
    assert metadata["framework_version"] == sklearn.__version__
    served = prebuilt_framework(defaults.SKLEARN_SERVING_IMAGE)
    assert Framework("scikit-learn", metadata["framework_version"]).minor == served.version
    # Loaded and scored under scikit-learn 1.6, the serving image's version, as its server
    # does: joblib.load, then predict on a list of lists.
    model = joblib.load(trained_model / "model.joblib")
    rows = pd.read_csv(CSV)[metadata["feature_names"]].head(20).to_numpy().tolist()
    assert set(model.predict(rows).tolist()) <= {0, 1}
    line = check_serving_framework(str(trained_model), defaults.SKLEARN_SERVING_IMAGE)
    assert f"scikit-learn {sklearn.__version__}, served by scikit-learn 1.6" in line


def write_model(path: Path, framework: str, version: str) -> Path:
    path.mkdir(parents=True)
    (path / "model.joblib").write_bytes(b"model")
    metadata = {"framework": framework, "framework_version": version}
    (path / "model_metadata.json").write_text(json.dumps(metadata))
    return path


@pytest.mark.parametrize(
    ("framework", "version", "image", "recorded", "held"),
    [
        ("scikit-learn", "1.9.1", SKLEARN_1_6, "scikit-learn 1.9.1", "scikit-learn 1.6"),
        ("scikit-learn", "1.6.1", SKLEARN_1_5, "scikit-learn 1.6.1", "scikit-learn 1.5"),
        (
            "xgboost",
            "2.1.4",
            SKLEARN_1_6,
            "xgboost 2.1.4",
            "scikit-learn 1.6",
        ),
    ],
)
def test_a_model_of_another_version_is_refused_naming_both(
    tmp_path, framework, version, image, recorded, held
):
    model_dir = write_model(tmp_path / "model", framework, version)
    with pytest.raises(SpecError) as info:
        check_serving_framework(str(model_dir), image, shown="gs://b/job/model")
    message = str(info.value)
    assert message.startswith("serving_image must serve the framework the model was written")
    assert f"records {recorded} (model_metadata.json), the image holds {held}" in message
    assert "gs://b/job/model" in message


def test_a_model_without_a_recorded_version_or_a_custom_image_is_not_refused(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.joblib").write_bytes(b"x")
    assert "no framework version in model_metadata.json" in check_serving_framework(
        str(bare), SKLEARN_1_6
    )
    mine = write_model(tmp_path / "mine", "scikit-learn", "1.9.1")
    assert "not a prebuilt prediction image" in check_serving_framework(str(mine), "my-server:1")


def test_the_model_artifact_step_refuses_before_the_upload(tmp_path, monkeypatch):
    """The step both targets run between training and upload: it raises, so the run fails
    there and the upload (which consumes its artifact) never runs."""
    monkeypatch.setenv("VTP_GCS_ROOT", str(tmp_path / "gcs"))
    write_model(tmp_path / "gcs" / "b" / "job" / "model", "scikit-learn", "1.9.1")
    artifact = UnmanagedContainerModel(name="model", uri=str(tmp_path / "out"), metadata={})
    with pytest.raises(SpecError, match="records scikit-learn 1.9.1 .* holds scikit-learn 1.6"):
        unmanaged_container_model.python_func(
            model_dir="gs://b/job/model/", serving_image=SKLEARN_1_6, model=artifact
        )
    assert artifact.metadata == {}


@pytest.mark.parametrize("name", ["training", "distributed"])
def test_the_upload_takes_the_checked_artifact(name):
    """The compiled pipelines (run as they are locally): every upload (a new model, or a new
    version of the model found by display name) consumes `model-artifact`'s output."""
    from kfp import compiler

    from vtp import catalog

    for pipeline in [catalog.pipeline_module(name).build()]:
        spec = yaml.safe_load(compiler_output(compiler, pipeline))
        uploads = [
            task
            for name, component in spec["components"].items()
            if name.startswith("comp-condition")
            for task in component["dag"]["tasks"].values()
            if "upload" in task["taskInfo"]["name"]
        ]
        assert sorted(t["taskInfo"]["name"] for t in uploads) == [
            "upload-model",
            "upload-new-version",
        ]
        for upload in uploads:
            source = upload["inputs"]["artifacts"]["unmanaged_container_model"]
            assert source["componentInputArtifact"].startswith(
                "pipelinechannel--unmanaged-container-model"
            )


def compiler_output(compiler, pipeline) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "p.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        return path.read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-serving")
def test_a_local_run_refuses_to_register_a_model_its_serving_image_cannot_load(tmp_path, vtp_cli):
    """The whole training pipeline, locally: trained with scikit-learn 1.6, registered with a
    1.5 serving image, the run fails at model-artifact and nothing is registered."""
    home = tmp_path / "home"
    done = vtp_cli(
        *("run", "training", "--local", "--param", f"serving_image={SKLEARN_1_5}"), home=home
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "FAIL  unmanaged-container-model" in done.stderr
    assert "the image holds scikit-learn 1.5" in done.stderr
    assert f"records scikit-learn {sklearn.__version__}" in done.stderr
    registry = home / "registry.db"
    if registry.exists():
        from vtp.local.registry import LocalModelRegistry

        assert LocalModelRegistry(registry).list_models() == []
