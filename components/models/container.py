"""Serving container specs and model directory checks shared by upload paths."""

from __future__ import annotations

import os

from vtp.components.models.serving import check_serving_framework
from vtp.errors import SpecError
from vtp.gcs import to_local_path

#: Vertex's prebuilt prediction containers live here; they load a fixed file name.
PREBUILT_IMAGE_PREFIX = "us-docker.pkg.dev/vertex-ai/prediction/"
PREBUILT_MODEL_FILES = ("model.joblib", "model.pkl", "model.bst", "saved_model.pb")


def container_spec(
    image_uri: str, *, predict_route: str = "", health_route: str = "", port: int = 0
) -> dict:
    """`Model.container_spec` as Vertex's REST API takes it (camelCase)."""
    if not image_uri or not image_uri.strip():
        raise SpecError("containerSpec.imageUri", image_uri, "must be a container image URI")
    spec: dict = {"imageUri": image_uri}
    if predict_route:
        spec["predictRoute"] = predict_route
    if health_route:
        spec["healthRoute"] = health_route
    if port:
        if not 1 <= int(port) <= 65535:
            raise SpecError("containerSpec.ports[0].containerPort", port, "must be in 1..65535")
        spec["ports"] = [{"containerPort": int(port)}]
    return spec


def check_model_dir(model_dir: str, serving_image: str = "") -> str:
    """Fails unless `model_dir` holds files, the file a prebuilt serving image loads, and (when
    its metadata records one) the framework version that image serves (`serving`). Returns
    what the version check found."""
    local = to_local_path(model_dir)
    if not os.path.isdir(local):
        raise FileNotFoundError(f"model directory {model_dir!r} does not exist (looked at {local})")
    present = set(os.listdir(local))
    if not present:
        raise FileNotFoundError(f"model directory {model_dir!r} is empty")
    if serving_image.startswith(PREBUILT_IMAGE_PREFIX) and not present & set(PREBUILT_MODEL_FILES):
        raise FileNotFoundError(
            f"model directory {model_dir!r} holds none of {', '.join(PREBUILT_MODEL_FILES)} "
            f"(found: {', '.join(sorted(present)) or 'nothing'})"
        )
    return check_serving_framework(local, serving_image, shown=model_dir)
