"""The prebuilt scikit-learn container's predictor (the SDK's `SklearnPredictor`: joblib or
pickle, `model.predict(np.asarray(instances))`), with the instances checked first."""

from __future__ import annotations

from typing import Any

import numpy as np
from google.cloud.aiplatform.prediction.sklearn.predictor import SklearnPredictor

from vtp.serving.instances import ModelShape, check_request, predict_locating, recorded_features
from vtp.serving.predictor_errors import as_http_400

#: The model files the prebuilt scikit-learn container loads.
MODEL_EXTENSIONS = [".joblib", ".pkl"]


def sklearn_shape(model: Any, recorded: tuple[str, ...] = ()) -> ModelShape:
    """The model's width and feature names (its own, else those its metadata records)."""
    names = tuple(str(n) for n in getattr(model, "feature_names_in_", ())) or recorded
    n = getattr(model, "n_features_in_", None)
    width = int(n) if n is not None else (len(names) or None)
    return ModelShape(width, names if width is None or len(names) == width else ())


class CheckedSklearnPredictor(SklearnPredictor):
    """`SklearnPredictor` whose bad instances are 400s naming them."""

    def load(self, artifacts_uri: str, **kwargs: Any) -> None:
        super().load(artifacts_uri, allowed_extensions=MODEL_EXTENSIONS)
        self.shape = sklearn_shape(self._model, recorded_features(artifacts_uri))

    @as_http_400
    def preprocess(self, prediction_input: dict) -> list:
        return check_request(prediction_input, self.shape)

    @as_http_400
    def predict(self, instances: list) -> np.ndarray:
        parent = super()
        return predict_locating(lambda rows: parent.predict(np.asarray(rows)), instances)
