"""Evaluation core, plain Python: a saved model against a labelled test split.

The metrics are those of the task (`components.evaluation.tasks.METRICS`):

- binary: auc, accuracy, precision, recall, f1, log_loss, the confusion matrix and ROC points;
- multiclass: accuracy, f1_macro, log_loss, auc_ovr (one-vs-rest, when every class is in the
  split), the confusion matrix and each class's ROC against the rest;
- regression: rmse, mae, r2, and a summary of the residuals (label - prediction).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from vtp.components.evaluation.models import CLASSIFIER, LoadedModel, load_model
from vtp.components.evaluation.tasks import AUTO, BINARY, MULTICLASS, REGRESSION, check_task
from vtp.errors import DataError, SpecError

MAX_ROC_POINTS = 200
#: Test rows a regression evaluation records as (actual, predicted) pairs, for its plots.
MAX_REGRESSION_POINTS = 500
RESIDUAL_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
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

    task: str  # binary, multiclass or regression
    scalars: dict[str, float]
    rows: int
    classes: list[str] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)  # rows: true, cols: predicted
    roc: Roc | None = None
    #: Multiclass: each class against the rest, as (class, ROC, its AUC).
    roc_one_vs_rest: list[tuple[str, Roc, float]] = field(default_factory=list)
    residuals: dict[str, float] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    #: Regression: a sample of the test rows, evenly spaced, at most MAX_REGRESSION_POINTS.
    actual: list[float] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)

    def metric(self, name: str) -> float:
        """The scalar `name`; SpecError listing the available ones when there is none."""
        if name not in self.scalars:
            raise SpecError(
                "primary_metric",
                name,
                f"must be a metric measured for this {self.task} model: one of "
                f"{', '.join(sorted(self.scalars))}",
            )
        return self.scalars[name]


def split_columns(text: str | Sequence[str]) -> list[str]:
    """`"id, fold"` -> `["id", "fold"]`; a sequence passes through."""
    if isinstance(text, str):
        return [c.strip() for c in text.split(",") if c.strip()]
    return list(text)


def read_table(path: str) -> pd.DataFrame:
    """CSV, JSON Lines or Parquet (by extension, else content): a file, a directory of them
    (`training-00000-of-00002.csv`...) or a wildcard. Empty cells stay null."""
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
        try:
            frames.append(_read_file(p))
        except pd.errors.EmptyDataError:
            continue
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read {p!r} as CSV, JSON Lines or Parquet: {e}") from e
    frames = [f for f in frames if len(f)]
    if not frames:
        raise DataError(f"test data {path!r}: no rows in {len(files)} file(s)")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_file(path: str) -> pd.DataFrame:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jsonl", ".json"):
        return pd.read_json(path, lines=True)
    if ext == ".csv":
        return pd.read_csv(path)
    with open(path, "rb") as f:
        parquet = f.read(4) == _PARQUET_MAGIC
    return pd.read_parquet(path) if parquet else pd.read_csv(path)


def feature_columns(
    frame: pd.DataFrame, model: LoadedModel, target_column: str, exclude_columns: Sequence[str]
) -> list[str]:
    """Feature order: the model's (metadata or the model itself), else the table's columns
    but the target and `exclude_columns`."""
    names = model.feature_names
    if names is None:
        excluded = {target_column, *exclude_columns}
        names = [c for c in frame.columns if c not in excluded]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(f"test data lacks feature column(s) the model needs: {', '.join(missing)}")
    return list(names)


def feature_matrix(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The rows as the prediction server receives them: floats when every feature is numeric,
    else objects (strings kept, missing values NaN)."""
    part = frame[list(features)]
    if all(pd.api.types.is_numeric_dtype(part[c]) for c in part.columns):
        return part.to_numpy(dtype="float64", na_value=np.nan)
    values = part.astype(object).to_numpy()
    values[pd.isna(part).to_numpy()] = np.nan
    return values


def roc_points(positive: np.ndarray, scores: np.ndarray, max_points: int = MAX_ROC_POINTS) -> Roc:
    """ROC curve downsampled to at most `max_points`, first and last points kept.

    The infinite first threshold of scikit-learn becomes 1.0 (scores are probabilities).
    """
    fpr, tpr, thresholds = skm.roc_curve(positive, scores)
    thresholds = np.minimum(thresholds, 1.0)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return Roc(fpr=fpr.tolist(), tpr=tpr.tolist(), thresholds=thresholds.tolist())


def model_task(model: LoadedModel, task: str = AUTO) -> str:
    """The model's task; with `task` given, DataError when the model does not fit it."""
    if model.kind == CLASSIFIER:
        found = BINARY if len(model.classes) == 2 else MULTICLASS
    else:
        found = REGRESSION
    check_task(task)
    if task != AUTO and task != found:
        what = (
            f"a classifier of {len(model.classes)} classes"
            if model.kind == CLASSIFIER
            else "a regressor"
        )
        raise DataError(f"task is {task!r} but the model in {model.path} is {what} ({found})")
    return found


def evaluate(
    model_dir: str,
    test_path: str,
    target_column: str = "target",
    exclude_columns: str | Sequence[str] = ("id",),
    task: str = AUTO,
) -> Evaluation:
    """Loads the model in `model_dir` and measures it on the table at `test_path`."""
    model = load_model(model_dir)
    task = model_task(model, task)
    frame = read_table(test_path)
    if target_column not in frame.columns:
        raise DataError(
            f"target_column {target_column!r} is not a column of the test data; columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    frame = frame[frame[target_column].notna()]
    if frame.empty:
        raise DataError(f"test data has no row with a value in target column {target_column!r}")
    features = feature_columns(frame, model, target_column, split_columns(exclude_columns))
    x = feature_matrix(frame, features)
    y = frame[target_column].to_numpy()
    if task == REGRESSION:
        result = _regression(model, x, y.astype(float))
    else:
        result = _classification(model, task, x, y)
    result.features = features
    return result


def _regression(model: LoadedModel, x: np.ndarray, y: np.ndarray) -> Evaluation:
    predicted = model.predict(x)
    residuals = y - predicted
    scalars = {
        "rmse": float(np.sqrt(skm.mean_squared_error(y, predicted))),
        "mae": float(skm.mean_absolute_error(y, predicted)),
        "r2": float(skm.r2_score(y, predicted)) if len(y) > 1 else float("nan"),
    }
    summary = {
        "residual_mean": float(np.mean(residuals)),
        "residual_std": float(np.std(residuals)),
        "residual_min": float(np.min(residuals)),
        "residual_max": float(np.max(residuals)),
    }
    for q in RESIDUAL_QUANTILES:
        summary[f"residual_p{round(q * 100):02d}"] = float(np.quantile(residuals, q))
    keep = regression_sample(len(y))
    return Evaluation(
        task=REGRESSION,
        scalars=scalars,
        rows=len(y),
        residuals=summary,
        actual=[float(v) for v in y[keep]],
        predicted=[float(v) for v in np.asarray(predicted)[keep]],
    )


def regression_sample(rows: int, max_points: int = MAX_REGRESSION_POINTS) -> np.ndarray:
    """Indices of the rows kept for the plots: all of them, or `max_points` evenly spaced
    (first and last included)."""
    if rows <= max_points:
        return np.arange(rows)
    return np.unique(np.linspace(0, rows - 1, max_points).round().astype(int))


def _classification(model: LoadedModel, task: str, x: np.ndarray, y: np.ndarray) -> Evaluation:
    classes = np.asarray(model.classes, dtype=object)
    y = _as_class_labels(y, classes)
    unseen = sorted(set(y.tolist()) - set(classes.tolist()), key=str)
    if unseen:
        raise DataError(
            f"test data holds target values the model was not trained on: {unseen!r}; "
            f"model classes: {classes.tolist()!r}"
        )
    proba = model.predict_proba(x)
    labels = list(range(len(classes)))
    index = {c: i for i, c in enumerate(classes.tolist())}
    y_idx = np.array([index[v] for v in y.tolist()])
    p_idx = np.argmax(proba, axis=1)
    matrix = skm.confusion_matrix(y_idx, p_idx, labels=labels).tolist()
    scalars = {
        "accuracy": float(skm.accuracy_score(y_idx, p_idx)),
        "log_loss": float(skm.log_loss(y_idx, proba, labels=labels)),
    }
    roc = None
    roc_one_vs_rest: list[tuple[str, Roc, float]] = []
    if task == BINARY:
        scalars["precision"] = float(skm.precision_score(y_idx, p_idx, zero_division=0))
        scalars["recall"] = float(skm.recall_score(y_idx, p_idx, zero_division=0))
        scalars["f1"] = float(skm.f1_score(y_idx, p_idx, zero_division=0))
        if len(np.unique(y_idx)) == 2:  # auc and ROC need both classes in the test split
            scalars["auc"] = float(skm.roc_auc_score(y_idx, proba[:, 1]))
            roc = roc_points(y_idx == 1, proba[:, 1])
    else:
        scalars["f1_macro"] = float(
            skm.f1_score(y_idx, p_idx, labels=labels, average="macro", zero_division=0)
        )
        if len(np.unique(y_idx)) == len(classes):  # one-vs-rest AUC needs every class present
            scalars["auc_ovr"] = float(
                skm.roc_auc_score(y_idx, proba, multi_class="ovr", labels=labels)
            )
            for i, name in enumerate(classes.tolist()):
                positive = y_idx == i
                roc_one_vs_rest.append(
                    (
                        str(name),
                        roc_points(positive, proba[:, i]),
                        float(skm.roc_auc_score(positive, proba[:, i])),
                    )
                )
    return Evaluation(
        task=task,
        scalars=scalars,
        rows=len(y),
        classes=[str(c) for c in classes.tolist()],
        confusion_matrix=[[int(v) for v in row] for row in matrix],
        roc=roc,
        roc_one_vs_rest=roc_one_vs_rest,
    )


def _as_class_labels(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """`y` in the type of the model's classes (a CSV's `1` against a model's `'1'`, or a
    float label `1.0` against an integer class)."""
    known = set(classes.tolist())
    out = []
    for v in y.tolist():
        if v in known:
            out.append(v)
            continue
        for candidate in _alternatives(v):
            if candidate in known:
                out.append(candidate)
                break
        else:
            out.append(v)
    return np.asarray(out, dtype=object)


def _alternatives(value: object) -> list[object]:
    out: list[object] = [str(value)]
    if isinstance(value, float) and value.is_integer():
        out += [int(value), str(int(value))]
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return out
        out += [number, int(number)] if number.is_integer() else [number]
    return out
