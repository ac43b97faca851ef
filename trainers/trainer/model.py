"""The model (a scikit-learn HistGradientBoostingClassifier) and its validation metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from trainer import TrainerError

#: Validation metrics the trainer reports, and whether a larger value is better.
METRICS: dict[str, bool] = {"auc": True, "accuracy": True, "log_loss": False, "f1": True}


@dataclass(frozen=True)
class HyperParameters:
    """Hyperparameters of the classifier (`None` = unlimited for the two size limits)."""

    learning_rate: float = 0.1
    max_iter: int = 100
    max_depth: int | None = None
    max_leaf_nodes: int | None = 31
    l2_regularization: float = 0.0
    min_samples_leaf: int = 20
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def build(hp: HyperParameters) -> HistGradientBoostingClassifier:
    """An unfitted classifier; early stopping is off, so `max_iter` stages are built."""
    return HistGradientBoostingClassifier(
        learning_rate=hp.learning_rate,
        max_iter=hp.max_iter,
        max_depth=hp.max_depth,
        max_leaf_nodes=hp.max_leaf_nodes,
        l2_regularization=hp.l2_regularization,
        min_samples_leaf=hp.min_samples_leaf,
        early_stopping=False,
        random_state=hp.seed,
    )


def fit(hp: HyperParameters, x: np.ndarray, y: np.ndarray) -> HistGradientBoostingClassifier:
    """Fits the classifier. Raises TrainerError for invalid hyperparameters or labels."""
    if len(np.unique(y)) < 2:
        raise TrainerError(
            f"training data holds a single class ({np.unique(y)[0]!r}): need at least two"
        )
    estimator = build(hp)
    try:
        return estimator.fit(x, y)
    except ValueError as e:  # sklearn's InvalidParameterError names parameter, value, range
        raise TrainerError(str(e)) from e


def score(metric: str, y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """One validation metric from predicted class probabilities (columns ordered as `classes`)."""
    binary = len(classes) == 2
    if metric == "auc":
        present = np.unique(y)
        if len(present) < 2:
            raise TrainerError(
                f"metric auc needs at least two classes in the validation data, "
                f"got only {present.tolist()!r}"
            )
        if binary:
            return float(roc_auc_score(y == classes[1], proba[:, 1]))
        return float(roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    if metric == "log_loss":
        return float(log_loss(y, proba, labels=classes))
    predicted = classes[np.argmax(proba, axis=1)]
    if metric == "accuracy":
        return float(accuracy_score(y, predicted))
    if metric == "f1":
        if binary:
            return float(f1_score(y, predicted, pos_label=classes[1]))
        return float(f1_score(y, predicted, labels=classes, average="macro"))
    raise TrainerError(f"--metric {metric!r} is unknown: choose one of {', '.join(METRICS)}")


def all_scores(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Every metric of METRICS that the validation labels allow (auc needs two classes)."""
    out = {}
    for metric in METRICS:
        try:
            out[metric] = score(metric, y, proba, classes)
        except (TrainerError, ValueError):
            continue
    return out


def check_labels(y: np.ndarray, classes: np.ndarray, role: str) -> None:
    """Raises TrainerError when `y` holds labels the model was not trained on."""
    unseen = sorted(set(np.unique(y).tolist()) - set(classes.tolist()), key=str)
    if unseen:
        raise TrainerError(
            f"{role} data holds target values absent from the training data: {unseen!r}; "
            f"known classes: {classes.tolist()!r}"
        )


def staged_scores(
    estimator: HistGradientBoostingClassifier,
    x: np.ndarray,
    y: np.ndarray,
    metric: str,
    every: int,
) -> Iterator[tuple[int, float]]:
    """`(iteration, metric)` every `every` boosting iterations, the last iteration excluded."""
    if every <= 0:
        return
    last = estimator.n_iter_
    for step, proba in enumerate(estimator.staged_predict_proba(x), start=1):
        if step % every == 0 and step < last:
            yield step, score(metric, y, proba, estimator.classes_)
