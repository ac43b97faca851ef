"""Which predictor serves a model version: chosen from its serving container image, as Vertex
chooses the prebuilt prediction container, and refused when no local predictor can stand in."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vtp.errors import VtpError

#: `REGION-docker.pkg.dev/vertex-ai/prediction/FRAMEWORK-ACCELERATOR.VERSION:TAG`, the form of
#: Vertex's prebuilt prediction images (the SDK's `constants.prediction.CONTAINER_URI_PATTERN`,
#: widened to any tag).
_PREBUILT = re.compile(
    r"^(?:[\w-]+-)?docker\.pkg\.dev/vertex-ai(?:-restricted)?/prediction/"
    r"(?P<framework>[a-z0-9]+)-(?P<accelerator>cpu|gpu)\.(?P<version>\d+-\d+)(?::[\w.-]+)?$"
)

SKLEARN, XGBOOST = "sklearn", "xgboost"


class NotServable(VtpError):
    """A model version no local predictor can serve."""


@dataclass(frozen=True)
class Framework:
    """The prebuilt container a model version names: framework and its version (`1.6`)."""

    name: str
    version: str
    image: str

    @property
    def predictor(self) -> str:
        """`module:Class` of the vtp predictor for this framework."""
        return {
            SKLEARN: "vtp.serving.sklearn_predictor:CheckedSklearnPredictor",
            XGBOOST: "vtp.serving.xgboost_predictor:CheckedXgboostPredictor",
        }[self.name]


def framework_of(image_uri: str) -> Framework:
    """The prebuilt framework of `image_uri`; NotServable for other images."""
    match = _PREBUILT.match(image_uri or "")
    if match is None:
        raise NotServable(
            f"serving image {image_uri!r} is not one of Vertex's prebuilt prediction images "
            "(REGION-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.X-Y or xgboost-cpu.X-Y): "
            "vtp serves the prebuilt scikit-learn and XGBoost formats locally; a custom "
            "serving container runs on Vertex or under docker"
        )
    name = match["framework"]
    if name not in (SKLEARN, XGBOOST):
        raise NotServable(
            f"serving image {image_uri!r} is the prebuilt {name} container: vtp serves the "
            f"scikit-learn and XGBoost formats locally, not {name}"
        )
    return Framework(name, match["version"].replace("-", "."), image_uri)
