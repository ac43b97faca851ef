"""A pipeline written the way Google's docs and samples write them, without vtp.

GCPC's `CustomTrainingJobOp` with a constant worker pool (the team's trainer image), a
`dsl.importer` of the job's model directory as an `UnmanagedContainerModel`, an evaluation
component, a condition on its metric, and GCPC's `ModelUploadOp`.

    python train_and_upload.py pipeline.yaml       # compile; then, with vtp installed:
    vtp run pipeline.yaml --local --param project=my-proj
"""

import sys

from google_cloud_pipeline_components.types import artifact_types
from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
from google_cloud_pipeline_components.v1.model import ModelUploadOp
from kfp import compiler, dsl
from kfp.dsl import Input, Metrics, Output

TRAINER_IMAGE = "us-central1-docker.pkg.dev/team-project/images/trainer:1.0"
SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"


@dsl.component(base_image="python:3.11", packages_to_install=["scikit-learn", "joblib"])
def check_model(model: Input[dsl.Artifact], metrics: Output[Metrics]) -> float:
    """Reads the metrics the trainer wrote next to its model."""
    import json
    import os

    with open(os.path.join(model.path, "metrics.json")) as f:
        measured = json.load(f)
    metrics.log_metric("auc", measured["auc"])
    return float(measured["auc"])


@dsl.pipeline(name="team-train-and-upload", description="Train, check, upload if good enough.")
def pipeline(
    project: str,
    location: str = "us-central1",
    bucket: str = "gs://team-bucket",
    data: str = "gs://team-bucket/data/breast_cancer.csv",
    model_dir: str = "gs://team-bucket/training/model",
    auc_threshold: float = 0.9,
):
    train = CustomTrainingJobOp(
        project=project,
        location=location,
        display_name="team-trainer",
        worker_pool_specs=[
            {
                "machine_spec": {"machine_type": "n1-standard-4"},
                "replica_count": 1,
                "container_spec": {"image_uri": TRAINER_IMAGE, "args": ["--data", data]},
            }
        ],
        base_output_directory=f"{bucket}/training",
    )
    model = dsl.importer(
        artifact_uri=model_dir,  # the job's AIP_MODEL_DIR: <base_output_directory>/model
        artifact_class=artifact_types.UnmanagedContainerModel,
        metadata={"containerSpec": {"imageUri": SERVING_IMAGE}},
    ).after(train)
    check = check_model(model=model.outputs["artifact"])
    with dsl.If(check.outputs["Output"] >= auc_threshold, name="good-enough"):
        ModelUploadOp(
            project=project,
            location=location,
            display_name="team-classifier",
            unmanaged_container_model=model.outputs["artifact"],
        )


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, sys.argv[1] if len(sys.argv) > 1 else "pipeline.yaml")
