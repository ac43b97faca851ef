"""The model (scikit-learn histogram gradient boosting) and its validation metrics.

Binary and multi-class targets train a `HistGradientBoostingClassifier`, numeric targets a
`HistGradientBoostingRegressor`. String features are categorical: an `OrdinalEncoder` in front
of the booster (which splits on them natively), so the saved pipeline takes the rows exactly
as Vertex's prebuilt scikit-learn container hands them over (a 2-D list of values).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from trainer import TrainerError

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)

#: Task -> metric -> goal (True: higher is better). A copy of vtp's
#: `components/evaluation/tasks.py` (this trainer imports nothing from vtp); a test holds the
#: two equal.
METRICS: dict[str, dict[str, bool]] = {
    BINARY: {
        "auc": True,
        "accuracy": True,
        "precision": True,
        "recall": True,
        "f1": True,
        "log_loss": False,
    },
    MULTICLASS: {
        "accuracy": True,
        "f1_macro": True,
        "log_loss": False,
        "auc_ovr": True,
    },
    REGRESSION: {
        "rmse": False,
        "mae": False,
        "r2": True,
    },
}
#: The metric reported as the trial's curve when `--metric` is not given.
DEFAULT_METRICS = {BINARY: "auc", MULTICLASS: "f1_macro", REGRESSION: "rmse"}
ALL_METRICS = sorted({m for metrics in METRICS.values() for m in metrics})


@dataclass(frozen=True)
class HyperParameters:
    """Hyperparameters of the booster (`None` = unlimited for the two size limits)."""

    learning_rate: float = 0.1
    max_iter: int = 100
    max_depth: int | None = None
    max_leaf_nodes: int | None = 31
    l2_regularization: float = 0.0
    min_samples_leaf: int = 20
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def build(hp: HyperParameters, task: str, categorical: Sequence[int], width: int) -> Pipeline:
    """An unfitted pipeline for rows of `width` values whose columns `categorical` are
    strings; early stopping is off, so `max_iter` stages are built."""
    booster_class = (
        HistGradientBoostingRegressor if task == REGRESSION else (HistGradientBoostingClassifier)
    )
    booster = booster_class(
        learning_rate=hp.learning_rate,
        max_iter=hp.max_iter,
        max_depth=hp.max_depth,
        max_leaf_nodes=hp.max_leaf_nodes,
        l2_regularization=hp.l2_regularization,
        min_samples_leaf=hp.min_samples_leaf,
        early_stopping=False,
        random_state=hp.seed,
        categorical_features=list(range(len(categorical))) or None,
    )
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    numeric = [i for i in range(width) if i not in set(categorical)]
    columns = ColumnTransformer(
        [("categorical", encoder, list(categorical)), ("numeric", "passthrough", numeric)],
        sparse_threshold=0,
    )
    return Pipeline([("columns", columns), ("booster", booster)])


def fit(
    hp: HyperParameters, task: str, x: np.ndarray, y: np.ndarray, categorical: Sequence[int]
) -> Pipeline:
    """Fits the pipeline. Raises TrainerError for invalid hyperparameters or labels."""
    if task != REGRESSION and len(np.unique(y)) < 2:
        raise TrainerError(
            f"training data holds a single class ({np.unique(y)[0]!r}): need at least two"
        )
    pipeline = build(hp, task, categorical, x.shape[1])
    try:
        return pipeline.fit(x, y)
    except ValueError as e:  # sklearn's InvalidParameterError names parameter, value, range
        raise TrainerError(str(e)) from e


def booster_of(pipeline: Pipeline):
    return pipeline.named_steps["booster"]


def check_metric(task: str, metric: str) -> None:
    if metric not in METRICS[task]:
        raise TrainerError(
            f"--metric {metric!r} is not a {task} metric: choose one of {', '.join(METRICS[task])}"
        )


def score(metric: str, task: str, y: np.ndarray, predicted: np.ndarray, classes) -> float:
    """One metric: `predicted` holds class probabilities (columns ordered as `classes`) for a
    classifier, predicted values for a regressor."""
    check_metric(task, metric)
    if task == REGRESSION:
        if metric == "rmse":
            return float(np.sqrt(mean_squared_error(y, predicted)))
        if metric == "mae":
            return float(mean_absolute_error(y, predicted))
        return float(r2_score(y, predicted))
    classes = np.asarray(classes)
    if metric == "log_loss":
        return float(log_loss(y, predicted, labels=classes))
    if metric in ("auc", "auc_ovr"):
        present = np.unique(y)
        if len(present) < (2 if task == BINARY else len(classes)):
            raise TrainerError(
                f"metric {metric} needs {'both classes' if task == BINARY else 'every class'} "
                f"in the validation data, got only {present.tolist()!r}"
            )
        if task == BINARY:
            return float(roc_auc_score(y == classes[1], predicted[:, 1]))
        return float(roc_auc_score(y, predicted, multi_class="ovr", labels=classes))
    labels = classes[np.argmax(predicted, axis=1)]
    if metric == "accuracy":
        return float(accuracy_score(y, labels))
    if metric == "f1_macro":
        return float(f1_score(y, labels, labels=classes, average="macro", zero_division=0))
    positive = classes[1]
    if metric == "precision":
        return float(precision_score(y, labels, pos_label=positive, zero_division=0))
    if metric == "recall":
        return float(recall_score(y, labels, pos_label=positive, zero_division=0))
    return float(f1_score(y, labels, pos_label=positive, zero_division=0))


def predictions(pipeline: Pipeline, task: str, x: np.ndarray) -> np.ndarray:
    """Class probabilities (classifier) or values (regressor)."""
    return pipeline.predict(x) if task == REGRESSION else pipeline.predict_proba(x)


def all_scores(task: str, y: np.ndarray, predicted: np.ndarray, classes) -> dict[str, float]:
    """Every metric of the task that the validation labels allow (auc needs the classes)."""
    out = {}
    for metric in METRICS[task]:
        try:
            out[metric] = score(metric, task, y, predicted, classes)
        except (TrainerError, ValueError):
            continue
    return out


def check_labels(y: np.ndarray, classes, role: str) -> None:
    """Raises TrainerError when `y` holds labels the model was not trained on."""
    unseen = sorted(set(np.unique(y).tolist()) - set(np.asarray(classes).tolist()), key=str)
    if unseen:
        raise TrainerError(
            f"{role} data holds target values absent from the training data: {unseen!r}; "
            f"known classes: {np.asarray(classes).tolist()!r}"
        )


def staged_scores(
    pipeline: Pipeline, task: str, x: np.ndarray, y: np.ndarray, metric: str, every: int
) -> Iterator[tuple[int, float]]:
    """`(iteration, metric)` every `every` boosting iterations, the last iteration excluded."""
    if every <= 0:
        return
    booster = booster_of(pipeline)
    last = booster.n_iter_
    encoded = pipeline.named_steps["columns"].transform(x)
    stages = (
        booster.staged_predict(encoded)
        if task == REGRESSION
        else booster.staged_predict_proba(encoded)
    )
    classes = getattr(booster, "classes_", None)
    for step, predicted in enumerate(stages, start=1):
        if step % every == 0 and step < last:
            yield step, score(metric, task, y, predicted, classes)
