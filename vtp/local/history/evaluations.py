"""Evaluations of a run, from the metrics artifacts its evaluation steps wrote (KFP's
`system.Metrics` and `system.ClassificationMetrics`, GCPC's `google.RegressionMetrics`):
scalars, the confusion matrix and ROC points of a classifier, the residual summary and the
(actual, predicted) sample of a regressor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vtp.local.history.runs import METRICS, RunView, StepView

CLASSIFICATION = "system.ClassificationMetrics"
REGRESSION = "google.RegressionMetrics"
#: Keys of the regression artifact's metadata holding the evaluated sample.
ACTUAL, PREDICTED = "actualValues", "predictedValues"
#: Key of the classification artifact's metadata holding a multiclass model's ROC per class.
ONE_VS_REST_ROC = "oneVsRestRoc"

RocPoints = list[tuple[float, float, float]]  # (fpr, tpr, threshold)


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation step measured."""

    step: str
    label: str
    scalars: dict[str, float]
    classes: list[str] = field(default_factory=list)
    confusion: list[list[float]] = field(default_factory=list)
    roc: RocPoints = field(default_factory=list)
    #: Multiclass: (class, AUC or None, ROC points) of each class against the rest.
    roc_one_vs_rest: list[tuple[str, float | None, RocPoints]] = field(default_factory=list)
    actual: list[float] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)
    residuals: dict[str, float] = field(default_factory=dict)

    @property
    def task(self) -> str:
        if self.actual or self.residuals or "rmse" in self.scalars:
            return "regression"
        if self.classes:
            return "binary" if len(self.classes) == 2 else "multiclass"
        return ""


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _floats(values: Any) -> list[float]:
    if not isinstance(values, list):
        return []
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return []


def _roc_points(points: Any) -> RocPoints:
    """KFP's `confidenceMetrics` as sorted (fpr, tpr, threshold) points; bad entries skipped."""
    out: RocPoints = []
    for point in points if isinstance(points, list) else []:
        try:
            out.append(
                (
                    float(point.get("falsePositiveRate", 0.0)),
                    float(point.get("recall", 0.0)),
                    float(point.get("confidenceThreshold", 0.0)),
                )
            )
        except (AttributeError, TypeError, ValueError):
            continue
    return sorted(out)


def of_step(step: StepView) -> Evaluation | None:
    """The evaluation a step wrote; None when it wrote no metrics artifact."""
    scalars: dict[str, float] = {}
    for art in step.artifacts(METRICS).values():
        scalars.update(_numbers(art.get("metadata") or {}))
    classes: list[str] = []
    confusion: list[list[float]] = []
    roc: RocPoints = []
    roc_one_vs_rest: list[tuple[str, float | None, RocPoints]] = []
    for art in step.artifacts(CLASSIFICATION).values():
        meta = art.get("metadata") or {}
        matrix = meta.get("confusionMatrix") or {}
        classes = [str(s.get("displayName", "")) for s in matrix.get("annotationSpecs") or []]
        confusion = [_floats(r.get("row")) for r in matrix.get("rows") or []]
        roc = _roc_points(meta.get("confidenceMetrics"))
        for curve in meta.get(ONE_VS_REST_ROC) or []:
            if isinstance(curve, dict):
                auc = curve.get("auc")
                roc_one_vs_rest.append(
                    (
                        str(curve.get("class", "")),
                        float(auc) if isinstance(auc, int | float) else None,
                        _roc_points(curve.get("confidenceMetrics")),
                    )
                )
    actual: list[float] = []
    predicted: list[float] = []
    for art in step.artifacts(REGRESSION).values():
        meta = art.get("metadata") or {}
        actual, predicted = _floats(meta.get(ACTUAL)), _floats(meta.get(PREDICTED))
        if len(actual) != len(predicted):
            actual, predicted = [], []
    residuals = {k: v for k, v in scalars.items() if k.startswith("residual_")}
    if not (scalars or classes or actual):
        return None
    return Evaluation(
        step=step.path,
        label=step.label,
        scalars={k: v for k, v in scalars.items() if k not in residuals},
        classes=classes,
        confusion=confusion,
        roc=roc,
        roc_one_vs_rest=roc_one_vs_rest,
        actual=actual,
        predicted=predicted,
        residuals=residuals,
    )


def of_run(run: RunView) -> list[Evaluation]:
    """Every evaluation of the run, in the order its steps started."""
    return [e for e in (of_step(s) for s in run.leaf_steps) if e is not None]
