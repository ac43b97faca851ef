"""The prebuilt XGBoost container's predictor (the SDK's `XgboostPredictor`: `model.bst`,
joblib or pickle, `booster.predict(xgb.DMatrix(instances))`), with the instances checked
first."""

from __future__ import annotations

from typing import Any

import numpy as np
from google.cloud.aiplatform.prediction.xgboost.predictor import XgboostPredictor

from vtp.serving.instances import ModelShape, check_request, predict_locating, recorded_features
from vtp.serving.predictor_errors import as_http_400

#: The model files the prebuilt XGBoost container loads.
MODEL_EXTENSIONS = [".bst", ".joblib", ".pkl"]


def booster_shape(booster: Any, recorded: tuple[str, ...] = ()) -> ModelShape:
    """The booster's width and feature names (its own, else those its metadata records)."""
    width = int(booster.num_features())
    names = tuple(booster.feature_names or ()) or recorded
    return ModelShape(width, names if len(names) == width else ())


class CheckedXgboostPredictor(XgboostPredictor):
    """`XgboostPredictor` whose bad instances are 400s naming them."""

    def load(self, artifacts_uri: str, **kwargs: Any) -> None:
        super().load(artifacts_uri, allowed_extensions=MODEL_EXTENSIONS)
        booster = self._booster
        if not hasattr(booster, "num_features"):  # an sklearn-API model pickled with joblib
            booster = booster.get_booster()
            self._booster = booster
        self.shape = booster_shape(booster, recorded_features(artifacts_uri))

    @as_http_400
    def preprocess(self, prediction_input: dict) -> list:
        return check_request(prediction_input, self.shape)

    @as_http_400
    def predict(self, instances: list) -> np.ndarray:
        parent = super()
        return predict_locating(
            lambda rows: parent.predict(parent.preprocess({"instances": list(rows)})), instances
        )
