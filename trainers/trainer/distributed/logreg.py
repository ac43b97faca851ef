"""Binary logistic regression by full-batch gradient descent, data-parallel over a `Collective`.

Each rank holds a shard of the rows. Every step each rank sums the gradient over its shard and
one all-reduce adds the shards' sums, so every rank applies the same update to the same
weights: the result is the model one process would train on all the rows. Features are
standardised with statistics of all the rows (also all-reduced). The model is exported as a
fitted scikit-learn `LogisticRegression` on the raw features, so Vertex's prebuilt scikit-learn
container and vtp's evaluation load it like any `model.joblib`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from trainer import TrainerError
from trainer.distributed.collective import Collective


@dataclass(frozen=True)
class HyperParameters:
    """Gradient descent settings; `l2` is the weight of `0.5 * ||w||^2` in the mean loss."""

    learning_rate: float = 0.5
    steps: int = 300
    l2: float = 0.001
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise TrainerError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if self.steps < 1:
            raise TrainerError(f"--steps must be >= 1, got {self.steps}")
        if not self.l2 >= 0:
            raise TrainerError(f"--l2 must be >= 0, got {self.l2}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Standardiser:
    """Mean and scale of every feature over all the rows of all the ranks."""

    mean: np.ndarray
    scale: np.ndarray
    rows: int

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale


@dataclass(frozen=True)
class Step:
    """What one training step measured over every rank."""

    step: int
    loss: float
    rows: int
    ranks: int


def global_standardiser(comm: Collective, x: np.ndarray) -> Standardiser:
    """Feature means and standard deviations of the union of every rank's rows."""
    d = x.shape[1]
    stats = comm.allreduce(np.concatenate([[len(x)], x.sum(axis=0), (x * x).sum(axis=0)]))
    rows = int(stats[0])
    if rows == 0:
        raise TrainerError("no training rows on any replica")
    mean = stats[1 : 1 + d] / rows
    variance = np.maximum(stats[1 + d :] / rows - mean * mean, 0.0)
    scale = np.sqrt(variance)
    scale[scale == 0] = 1.0  # a constant feature: leave it centred, unscaled
    return Standardiser(mean, scale, rows)


def global_classes(comm: Collective, y: np.ndarray) -> np.ndarray:
    """The sorted labels present on any rank; exactly two are required."""
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise TrainerError(f"labels must be numeric or boolean, got dtype {y.dtype}")
    gathered = comm.gather(np.unique(y).astype(np.float64))
    union = np.unique(np.concatenate(gathered)) if gathered is not None else None
    classes = comm.broadcast(union)
    if len(classes) != 2:
        raise TrainerError(
            f"the distributed trainer is a binary classifier: the target holds "
            f"{len(classes)} classes {classes.tolist()!r}, need exactly 2"
        )
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        return classes.astype(y.dtype)
    return classes


def train(
    comm: Collective,
    x: np.ndarray,
    y: np.ndarray,
    hp: HyperParameters,
    *,
    before_step: Callable[[int], None] | None = None,
    after_step: Callable[[Step, np.ndarray, float], None] | None = None,
) -> tuple[np.ndarray, float]:
    """Trains on this rank's standardised rows `x` and 0/1 labels `y`; returns `(w, b)`.

    The initial weights are the primary's, broadcast to every rank. `after_step` receives the
    step's measurements and the new weights and bias.
    """
    d = x.shape[1]
    init = np.random.default_rng(hp.seed).normal(0.0, 0.01, d + 1) if comm.rank == 0 else None
    params = comm.broadcast(init)
    w, b = params[:d].copy(), float(params[d])
    local = np.empty(d + 3)
    for step in range(1, hp.steps + 1):
        if before_step is not None:
            before_step(step)
        z = x @ w + b
        error = expit(z) - y
        local[:d] = x.T @ error
        local[d] = error.sum()
        local[d + 1] = (np.logaddexp(0.0, z) - y * z).sum()  # log loss, stable form
        local[d + 2] = len(x)
        total = comm.allreduce(local)
        rows = total[d + 2]
        w = w - hp.learning_rate * (total[:d] / rows + hp.l2 * w)
        b = b - hp.learning_rate * total[d] / rows
        if after_step is not None:
            loss = total[d + 1] / rows + 0.5 * hp.l2 * float(w @ w)
            after_step(Step(step, float(loss), int(rows), len(comm.last_contributors)), w, b)
    return w, b


def weights_checksum(w: np.ndarray, b: float) -> str:
    """SHA-256 of the weights' float64 bytes: equal on two ranks only if bit-identical."""
    return hashlib.sha256(np.append(w, b).astype(np.float64).tobytes()).hexdigest()


def to_estimator(
    w: np.ndarray, b: float, standardiser: Standardiser, classes: np.ndarray, hp: HyperParameters
) -> LogisticRegression:
    """A fitted `LogisticRegression` on raw features (the standardisation folded in)."""
    coef = w / standardiser.scale
    intercept = b - float((w * standardiser.mean / standardiser.scale).sum())
    strength = 1.0 / (hp.l2 * standardiser.rows) if hp.l2 > 0 else 1e12
    estimator = LogisticRegression(C=strength, max_iter=hp.steps)
    estimator.classes_ = np.asarray(classes)
    estimator.coef_ = coef.reshape(1, -1)
    estimator.intercept_ = np.array([intercept])
    estimator.n_features_in_ = len(coef)
    estimator.n_iter_ = np.array([hp.steps], dtype=np.int32)
    return estimator
