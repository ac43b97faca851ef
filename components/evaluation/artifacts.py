"""An `Evaluation` as the artifacts the Vertex AI console shows: KFP `Metrics` (scalars),
`ClassificationMetrics` (confusion matrix, ROC) and GCPC's `google.RegressionMetrics`."""

from __future__ import annotations

import math

from vtp.components.evaluation.metrics import Evaluation
from vtp.components.evaluation.tasks import REGRESSION

#: Keys of `google.RegressionMetrics` metadata holding the sample of test rows (`vtp ui` plots
#: them: predicted against actual, residuals).
ACTUAL_VALUES, PREDICTED_VALUES = "actualValues", "predictedValues"
#: Key of `ClassificationMetrics` metadata holding a multiclass model's ROC of each class
#: against the rest: [{"class", "auc", "confidenceMetrics": [...]}], each curve in the form
#: of KFP's own `confidenceMetrics` (`vtp ui` plots them).
ONE_VS_REST_ROC = "oneVsRestRoc"
#: Our regression metric -> the `google.RegressionMetrics` metadata key.
REGRESSION_KEYS = {"rmse": "rootMeanSquaredError", "mae": "meanAbsoluteError", "r2": "rSquared"}


def log_evaluation(result: Evaluation, metrics, classification_metrics, regression_metrics):
    """Fills the three artifacts (the one of the other kind stays empty)."""
    for name, scalar in sorted({**result.scalars, **result.residuals}.items()):
        if math.isfinite(scalar):
            metrics.log_metric(name, scalar)
    metrics.log_metric("test_rows", result.rows)
    if result.task == REGRESSION:
        for name, key in REGRESSION_KEYS.items():
            value = result.scalars.get(name)
            if value is not None and math.isfinite(value):
                regression_metrics.metadata[key] = value
        pairs = [
            (a, p)
            for a, p in zip(result.actual, result.predicted, strict=True)
            if math.isfinite(a) and math.isfinite(p)
        ]
        if pairs:
            regression_metrics.metadata[ACTUAL_VALUES] = [a for a, _ in pairs]
            regression_metrics.metadata[PREDICTED_VALUES] = [p for _, p in pairs]
        return
    classification_metrics.log_confusion_matrix(result.classes, result.confusion_matrix)
    if result.roc is not None:
        classification_metrics.log_roc_curve(result.roc.fpr, result.roc.tpr, result.roc.thresholds)
    if result.roc_one_vs_rest:
        classification_metrics.metadata[ONE_VS_REST_ROC] = [
            {
                "class": name,
                "auc": auc,
                "confidenceMetrics": [
                    {"confidenceThreshold": t, "falsePositiveRate": f, "recall": r}
                    for f, r, t in zip(roc.fpr, roc.tpr, roc.thresholds, strict=True)
                ],
            }
            for name, roc, auc in result.roc_one_vs_rest
        ]
