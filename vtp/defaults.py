"""Values with one home: images and defaults shared by components and pipelines."""

from __future__ import annotations

#: Image every vtp Python component runs in on Vertex. It holds this package (see
#: `Dockerfile` at the repository root). Locally, components run in the current Python.
#: `vtp compile --component-image URI` compiles against another one.
COMPONENT_IMAGE = "vtp-components:0.1.0"

#: Reference trainer image (built from `trainers/Dockerfile`).
TRAINER_IMAGE = "vtp-trainer:0.1.0"

#: Distributed example trainer image (built from `trainers/Dockerfile.distributed`).
DISTRIBUTED_TRAINER_IMAGE = "vtp-trainer-distributed:0.1.0"

#: Vertex's prebuilt scikit-learn prediction container (serves `model.joblib`).
SKLEARN_SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"

DEFAULT_LOCATION = "us-central1"
LOCAL_PROJECT = "local-project"
