"""Evaluation core, plain Python: a saved classifier against a labelled test split.

Binary: auc, accuracy, precision, recall, f1, log_loss, the confusion matrix and ROC points.
Multiclass: accuracy, f1_macro, log_loss and the confusion matrix.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vtp.errors import DataError, SpecError

if TYPE_CHECKING:  # pandas and scikit-learn load lazily: compiling a pipeline needs neither
    import pandas as pd

MODEL_FILE = "model.joblib"
METADATA_FILE = "model_metadata.json"
MAX_ROC_POINTS = 200
_PARQUET_MAGIC = b"PAR1"


@dataclass
class Roc:
    """ROC curve points, thresholds decreasing, fpr and tpr non-decreasing."""

    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]


@dataclass
class Evaluation:
    """What `evaluate` measured on the test split."""

    task: str  # "binary" or "multiclass"
    classes: list[str]
    scalars: dict[str, float]
    confusion_matrix: list[list[int]]  # rows = true class, columns = predicted, order of classes
    rows: int
    roc: Roc | None = None
    features: list[str] = field(default_factory=list)

    def metric(self, name: str) -> float:
        """The scalar `name`; SpecError listing the available ones when there is none."""
        if name not in self.scalars:
            raise SpecError(
                "primary_metric", name, f"must be one of {', '.join(sorted(self.scalars))}"
            )
        return self.scalars[name]


def split_columns(text: str | Sequence[str]) -> list[str]:
    """`"id, fold"` -> `["id", "fold"]`; a sequence passes through."""
    if isinstance(text, str):
        return [c.strip() for c in text.split(",") if c.strip()]
    return list(text)


def load_model(model_dir: str) -> tuple[object, dict]:
    """`(estimator, metadata)` from `model_dir`; metadata is `{}` without model_metadata.json."""
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise DataError(f"model directory {model_dir!r} holds no {MODEL_FILE}")
    import joblib

    estimator = joblib.load(path)
    if not hasattr(estimator, "predict_proba"):
        raise DataError(
            f"model {path!r} is a {type(estimator).__name__}, which has no predict_proba: "
            "evaluation needs a classifier"
        )
    meta_path = os.path.join(model_dir, METADATA_FILE)
    metadata = {}
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            metadata = json.load(f)
    return estimator, metadata


def read_table(path: str) -> pd.DataFrame:
    """A Parquet or CSV file (by content, whatever its name), a directory of them, or a wildcard."""
    import pandas as pd

    if any(c in path for c in "*?["):
        files = sorted(p for p in glob.glob(path) if os.path.isfile(p))
    elif os.path.isdir(path):
        files = sorted(
            os.path.join(path, n)
            for n in os.listdir(path)
            if not n.startswith((".", "_")) and os.path.isfile(os.path.join(path, n))
        )
    elif os.path.isfile(path):
        files = [path]
    else:
        raise DataError(f"test data {path!r}: no such file or directory")
    frames = []
    for p in files:
        with open(p, "rb") as f:
            parquet = f.read(4) == _PARQUET_MAGIC
        try:
            frames.append(pd.read_parquet(p) if parquet else pd.read_csv(p))
        except pd.errors.EmptyDataError:
            continue
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read {p!r} as Parquet or CSV: {e}") from e
    frames = [f for f in frames if len(f)]
    if not frames:
        raise DataError(f"test data {path!r}: no rows in {len(files)} file(s)")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def feature_columns(
    frame: pd.DataFrame,
    estimator: object,
    metadata: dict,
    target_column: str,
    exclude_columns: Sequence[str],
) -> list[str]:
    """Feature order: model_metadata.json, else the model's `feature_names_in_`, else the table."""
    names = metadata.get("feature_names")
    if names is None and hasattr(estimator, "feature_names_in_"):
        names = [str(n) for n in estimator.feature_names_in_]
    if names is None:
        excluded = {target_column, *exclude_columns}
        names = [c for c in frame.columns if c not in excluded]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(f"test data lacks feature column(s) the model needs: {', '.join(missing)}")
    return list(names)


def roc_points(positive: np.ndarray, scores: np.ndarray, max_points: int = MAX_ROC_POINTS) -> Roc:
    """ROC curve downsampled to at most `max_points`, first and last points kept.

    The infinite first threshold of scikit-learn becomes 1.0 (scores are probabilities).
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(positive, scores)
    thresholds = np.minimum(thresholds, 1.0)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return Roc(fpr=fpr.tolist(), tpr=tpr.tolist(), thresholds=thresholds.tolist())


def evaluate(
    model_dir: str,
    test_path: str,
    target_column: str = "target",
    exclude_columns: str | Sequence[str] = ("id",),
) -> Evaluation:
    """Loads the model in `model_dir` and measures it on the table at `test_path`."""
    from sklearn import metrics as skm

    estimator, metadata = load_model(model_dir)
    frame = read_table(test_path)
    if target_column not in frame.columns:
        raise DataError(
            f"target_column {target_column!r} is not a column of the test data; columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    frame = frame[frame[target_column].notna()]
    if frame.empty:
        raise DataError(f"test data has no row with a value in target column {target_column!r}")
    features = feature_columns(
        frame, estimator, metadata, target_column, split_columns(exclude_columns)
    )
    y = frame[target_column].to_numpy()
    classes = np.asarray(estimator.classes_)
    unseen = sorted(set(np.unique(y).tolist()) - set(classes.tolist()), key=str)
    if unseen:
        raise DataError(
            f"test data holds target values the model was not trained on: {unseen!r}; "
            f"model classes: {classes.tolist()!r}"
        )
    x = frame[features].to_numpy(dtype="float64")
    proba = np.asarray(estimator.predict_proba(x))
    predicted = classes[np.argmax(proba, axis=1)]
    matrix = skm.confusion_matrix(y, predicted, labels=classes).tolist()
    scalars = {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "log_loss": float(skm.log_loss(y, proba, labels=classes)),
    }
    roc = None
    if len(classes) == 2:
        task = "binary"
        positive = classes[1]
        scalars["precision"] = float(
            skm.precision_score(y, predicted, pos_label=positive, zero_division=0)
        )
        scalars["recall"] = float(
            skm.recall_score(y, predicted, pos_label=positive, zero_division=0)
        )
        scalars["f1"] = float(skm.f1_score(y, predicted, pos_label=positive, zero_division=0))
        if len(np.unique(y)) == 2:  # auc and ROC need both classes in the test split
            scalars["auc"] = float(skm.roc_auc_score(y == positive, proba[:, 1]))
            roc = roc_points(y == positive, proba[:, 1])
    else:
        task = "multiclass"
        scalars["f1_macro"] = float(
            skm.f1_score(y, predicted, labels=classes, average="macro", zero_division=0)
        )
    return Evaluation(
        task=task,
        classes=[str(c) for c in classes.tolist()],
        scalars=scalars,
        confusion_matrix=[[int(v) for v in row] for row in matrix],
        rows=len(y),
        roc=roc,
        features=features,
    )
