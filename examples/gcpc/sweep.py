"""A pipeline written the way Google's samples write them, without vtp: a `ParallelFor` over
training configurations, each a GCPC `CustomTrainingJobOp`, inside an `ExitHandler` whose task
reports the pipeline's final status.

    python sweep.py sweep.yaml
    vtp run sweep.yaml --local --param project=my-proj
"""

import sys

from google_cloud_pipeline_components.v1.custom_job import CustomTrainingJobOp
from kfp import compiler, dsl

TRAINER_IMAGE = "us-central1-docker.pkg.dev/team-project/images/trainer:1.0"
REGULARIZATION = [0.1, 10.0]


@dsl.component(base_image="python:3.11")
def report(status: dsl.PipelineTaskFinalStatus) -> str:
    """The exit task: what happened to the sweep."""
    message = f"sweep {status.state}: {status.error_message or 'no error'}"
    print(message)
    return message


@dsl.component(base_image="python:3.11")
def count_jobs(resources: list) -> int:
    """The jobs the sweep created (each task's `gcp_resources`)."""
    import json

    jobs = [json.loads(r)["resources"][0]["resourceUri"] for r in resources]
    print("\n".join(jobs))
    return len(jobs)


@dsl.pipeline(name="team-sweep", description="Train one model per configuration.")
def pipeline(
    project: str,
    location: str = "us-central1",
    bucket: str = "gs://team-bucket",
    data: str = "gs://team-bucket/data/breast_cancer.csv",
    regularization: list = REGULARIZATION,
):
    with dsl.ExitHandler(report(), name="sweep"):
        with dsl.ParallelFor(regularization, parallelism=2) as c:
            job = CustomTrainingJobOp(
                project=project,
                location=location,
                display_name="sweep-trainer",
                worker_pool_specs=[
                    {
                        "machine_spec": {"machine_type": "n1-standard-4"},
                        "replica_count": 1,
                        "container_spec": {
                            "image_uri": TRAINER_IMAGE,
                            "args": ["--data", data, "--C", c],
                        },
                    }
                ],
                base_output_directory=f"{bucket}/sweep/C-{c}",
            )
        count_jobs(resources=dsl.Collected(job.outputs["gcp_resources"]))


if __name__ == "__main__":
    compiler.Compiler().compile(pipeline, sys.argv[1] if len(sys.argv) > 1 else "sweep.yaml")
