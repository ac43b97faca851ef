"""A trained model directory, loaded the way Vertex's prebuilt prediction containers load it.

- `model.joblib` / `model.pkl`: a scikit-learn-API estimator (scikit-learn, or LightGBM's and
  XGBoost's scikit-learn wrappers when their package is installed), called on a 2-D array
  of the feature values, as the scikit-learn container calls it;
- `model.bst`: an XGBoost `Booster` (JSON or UBJSON model), called on a `DMatrix`, as the
  XGBoost container calls it.

`model_metadata.json`, when the trainer writes one, gives the feature order (`feature_names`)
and the class labels (`classes`); otherwise they come from the model itself or the table.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vtp.errors import DataError

JOBLIB_FILES = ("model.joblib", "model.pkl")
XGBOOST_FILE = "model.bst"
METADATA_FILE = "model_metadata.json"
CLASSIFIER, REGRESSOR = "classifier", "regressor"


@dataclass
class LoadedModel:
    """A model ready to predict; `kind` is `classifier` or `regressor`."""

    path: str
    framework: str
    kind: str
    model: Any
    classes: list = field(default_factory=list)
    feature_names: list[str] | None = None
    metadata: dict = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, one column per entry of `classes`."""
        if self.framework == "xgboost":
            out = np.asarray(
                self._served(lambda: self.model.predict(_dmatrix(x, self.feature_names)))
            )
            return np.column_stack([1 - out, out]) if out.ndim == 1 else out
        return np.asarray(self._served(lambda: self.model.predict_proba(x)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted values (regressor) or labels (classifier)."""
        if self.kind == CLASSIFIER:
            proba = self.predict_proba(x)
            return np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]
        if self.framework == "xgboost":
            out = self._served(lambda: self.model.predict(_dmatrix(x, self.feature_names)))
            return np.asarray(out, dtype=float)
        return np.asarray(self._served(lambda: self.model.predict(x)), dtype=float)

    def _served(self, call: Any) -> Any:
        """`call()`, the model predicting rows as the prebuilt prediction container gives
        them; DataError saying that contract when the model cannot take them."""
        try:
            return call()
        except Exception as err:
            raise DataError(
                f"the model in {self.path} cannot predict rows as Vertex's prebuilt prediction "
                "container gives them (one list of feature values per instance, in the data's "
                "column order without the target and excluded columns, no column names): "
                f"{type(err).__name__}: {err}. A model that selects columns by name (e.g. a "
                "ColumnTransformer given column names) needs a pandas DataFrame, which that "
                "container never passes: select columns by position, or serve the model from "
                "a container of your own"
            ) from err


def read_metadata(model_dir: str) -> dict:
    path = os.path.join(model_dir, METADATA_FILE)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not readable JSON: {err}") from err
    return data if isinstance(data, dict) else {}


def load_model(model_dir: str) -> LoadedModel:
    """The model in `model_dir`; DataError naming the files looked for when there is none."""
    metadata = read_metadata(model_dir)
    for name in JOBLIB_FILES:
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            return _sklearn_api(path, metadata)
    path = os.path.join(model_dir, XGBOOST_FILE)
    if os.path.isfile(path):
        return _xgboost(path, metadata)
    present = ", ".join(sorted(os.listdir(model_dir))) if os.path.isdir(model_dir) else "nothing"
    raise DataError(
        f"model directory {model_dir!r} holds none of "
        f"{', '.join((*JOBLIB_FILES, XGBOOST_FILE))} (found: {present or 'nothing'}): the files "
        "Vertex's prebuilt scikit-learn and XGBoost containers serve"
    )


def _sklearn_api(path: str, metadata: dict) -> LoadedModel:
    import joblib

    try:
        model = joblib.load(path)
    except ModuleNotFoundError as err:
        raise DataError(
            f"{path} needs the package {err.name!r} to load; install it where the evaluation "
            "runs (the component image), as the serving container must have it too"
        ) from err
    except Exception as err:  # a pickle written by another version, or not a pickle at all
        raise DataError(f"cannot load {path}: {type(err).__name__}: {err}") from err
    names = metadata.get("feature_names")
    if names is None and hasattr(model, "feature_names_in_"):
        names = [str(n) for n in model.feature_names_in_]
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        classes = metadata.get("classes") or np.asarray(model.classes_).tolist()
        return LoadedModel(path, "scikit-learn", CLASSIFIER, model, classes, names, metadata)
    if hasattr(model, "predict"):
        return LoadedModel(path, "scikit-learn", REGRESSOR, model, [], names, metadata)
    raise DataError(f"{path} holds a {type(model).__name__}, which has no predict()")


def _xgboost(path: str, metadata: dict) -> LoadedModel:
    try:
        import xgboost
    except ModuleNotFoundError as err:  # pragma: no cover - xgboost is a dependency of vtp
        raise DataError(f"{path} is an XGBoost model: install xgboost to evaluate it") from err
    booster = xgboost.Booster()
    try:
        with warnings.catch_warnings():  # "Unknown file format: `bst`": it reads the content
            warnings.simplefilter("ignore", UserWarning)
            booster.load_model(path)
    except xgboost.core.XGBoostError as err:
        raise DataError(f"cannot load {path} as an XGBoost model: {err}") from err
    config = json.loads(booster.save_config())
    objective = config["learner"]["objective"]["name"]
    names = metadata.get("feature_names") or booster.feature_names
    if objective.startswith(("binary:", "multi:")):
        if objective not in ("binary:logistic", "multi:softprob"):
            raise DataError(
                f"{path}: objective {objective!r} gives no class probabilities; train with "
                "binary:logistic or multi:softprob to evaluate it"
            )
        count = int(config["learner"]["learner_model_param"].get("num_class", "0") or 0)
        classes = metadata.get("classes") or list(range(max(count, 2)))
        return LoadedModel(path, "xgboost", CLASSIFIER, booster, classes, names, metadata)
    return LoadedModel(path, "xgboost", REGRESSOR, booster, [], names, metadata)


def _dmatrix(x: np.ndarray, names: list[str] | None):
    import xgboost

    return xgboost.DMatrix(np.asarray(x, dtype=float), feature_names=names or None)
