"""Values with one home: vtp's images and the defaults components and pipelines share.

The image values here are the *template* ones: `vtp-<name>:<version>`, without a registry.
Vertex cannot pull them; the configured ones (`vtp config`: `registry`, `component_image`,
`trainer_images`) are what `vtp compile` stamps into the YAML you ship.
"""

from __future__ import annotations

from vtp import __version__

#: vtp's own images (`vtp image`), by key -> repository name.
IMAGE_REPOSITORIES = {
    "components": "vtp-components",
    "trainer": "vtp-trainer",
    "trainer-gpu": "vtp-trainer-gpu",
    "trainer-distributed": "vtp-trainer-distributed",
}
#: The keys of the reference trainer images (`trainer_images` in the configuration).
TRAINER_IMAGE_KEYS = ("trainer", "trainer-gpu", "trainer-distributed")


def image(key: str, registry: str = "") -> str:
    """`REGISTRY/vtp-<name>:<version>` of image `key` (without a registry: the template's)."""
    repository = IMAGE_REPOSITORIES[key]
    return (
        f"{registry.rstrip('/')}/{repository}:{__version__}"
        if registry
        else (f"{repository}:{__version__}")
    )


#: Image every vtp Python component runs in on Vertex. It holds this package (see
#: `Dockerfile` at the repository root). Locally, components run in the current Python.
COMPONENT_IMAGE = image("components")

#: Reference trainer image (built from `trainers/Dockerfile`; ENTRYPOINT
#: `python -m trainer.task`). It is only the default of the pipelines' `trainer_image`.
TRAINER_IMAGE = image("trainer")

#: The reference trainer's own flags: the default `trainer_args` of the pipelines (nothing is
#: appended to a trainer's arguments but the hyperparameters, as on Vertex).
REFERENCE_TRAINER_ARGS = ("--target-column=target", "--exclude-columns=id")

#: The prebuilt training container `vtp run --trainer DIR` and `vtp trainer package` name for
#: a Python package unless told otherwise (scikit-learn; see
#: `vtp.components.specs.prebuilt_training`).
PACKAGE_EXECUTOR_IMAGE = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"

#: Distributed example trainer image (built from `trainers/Dockerfile.distributed`; ENTRYPOINT
#: `python -m trainer.distributed.task`).
DISTRIBUTED_TRAINER_IMAGE = image("trainer-distributed")

#: Vertex's prebuilt XGBoost prediction container (serves `model.bst`): the distributed
#: example trainer's model.
XGBOOST_SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"

#: Vertex's prebuilt scikit-learn prediction container (serves `model.joblib`).
SKLEARN_SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest"

DEFAULT_LOCATION = "us-central1"
LOCAL_PROJECT = "local-project"
