"""Vertex's prebuilt prediction containers, and whether a model will load in the one it is
registered with.

A prebuilt image holds one framework at one minor version, named in its URI
(`us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest`: scikit-learn 1.6). A pickled
scikit-learn model (or an XGBoost one) is reliable only in the version that wrote it, so a model
whose `model_metadata.json` records another framework or minor version is refused before it is
uploaded, naming both versions.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from vtp.errors import SpecError

METADATA_FILE = "model_metadata.json"
#: `{region}-docker.pkg.dev/vertex-ai/prediction/{framework}-{cpu|gpu}.{major}-{minor}:latest`
_PREBUILT = re.compile(
    r"^(?:[a-z]+-)?docker\.pkg\.dev/vertex-ai/prediction/"
    r"(?P<framework>[a-z0-9]+)-(?:cpu|gpu)\.(?P<major>\d+)-(?P<minor>\d+):latest$"
)
#: The image's framework name -> the name a model's metadata records.
FRAMEWORKS = {"sklearn": "scikit-learn", "xgboost": "xgboost", "tf2": "tensorflow"}
FRAMEWORKS["pytorch"] = "pytorch"


@dataclass(frozen=True)
class Framework:
    """A framework at a version (`minor` is `major.minor`, what a prebuilt image pins)."""

    name: str
    version: str

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def prebuilt_framework(image_uri: str) -> Framework | None:
    """The framework and minor version a prebuilt prediction image serves, else None."""
    match = _PREBUILT.match(image_uri.strip())
    if match is None or match["framework"] not in FRAMEWORKS:
        return None
    return Framework(FRAMEWORKS[match["framework"]], f"{match['major']}.{match['minor']}")


def recorded_framework(model_dir: str) -> Framework | None:
    """The framework and version `model_metadata.json` in `model_dir` records, else None."""
    path = os.path.join(model_dir, METADATA_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        metadata = json.load(f)
    name = metadata.get("framework")
    version = metadata.get("framework_version") or metadata.get("sklearn_version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    return Framework(name, version)


def check_serving_framework(model_dir: str, serving_image: str, shown: str = "") -> str:
    """Refuses a model its prebuilt serving image would not load reliably.

    Args:
        model_dir: A local directory holding the model files.
        serving_image: The image the model is registered with.
        shown: How messages name the model directory (its `gs://` URI).

    Returns:
        A line saying what was checked (or why nothing could be).

    Raises:
        SpecError: the model records another framework, or another minor version, than the
            prebuilt image serves; naming both.
    """
    served = prebuilt_framework(serving_image)
    if served is None:
        return f"serving image {serving_image}: not a prebuilt prediction image, not checked"
    recorded = recorded_framework(model_dir)
    where = shown or model_dir
    if recorded is None:
        return (
            f"model {where}: no framework version in {METADATA_FILE}; cannot check it "
            f"against {served.name} {served.version} of {serving_image}"
        )
    if recorded.name != served.name or recorded.minor != served.version:
        raise SpecError(
            "serving_image",
            serving_image,
            f"must serve the framework the model was written with: the model in {where} "
            f"records {recorded.name} {recorded.version} ({METADATA_FILE}), the image holds "
            f"{served.name} {served.version}; train with {served.name} {served.version}, or "
            f"serve from an image with {recorded.name} {recorded.minor}",
        )
    return (
        f"model {where}: {recorded.name} {recorded.version}, served by {served.name} "
        f"{served.version} ({serving_image})"
    )
