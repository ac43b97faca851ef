"""`evaluate_model`: a KFP component that measures a trained classifier on a test split."""

from typing import NamedTuple

from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Output

from vtp.components._component import vtp_component


@vtp_component
def evaluate_model(
    model: Input[UnmanagedContainerModel],
    test: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    target_column: str = "target",
    exclude_columns: str = "id",
    primary_metric: str = "auc",
) -> NamedTuple("Outputs", [("primary_metric_value", float)]):
    """Evaluates the model directory's `model.joblib` on the test split.

    Args:
        model: Model directory (`model.joblib`, optional `model_metadata.json` for feature order).
        test: Labelled test split: a Parquet or CSV file, or a directory of them.
        metrics: Receives every scalar (binary: auc, accuracy, precision, recall, f1, log_loss;
            multiclass: accuracy, f1_macro, log_loss).
        classification_metrics: Receives the confusion matrix and, for binary models, the ROC.
        target_column: Label column of the test split.
        exclude_columns: Comma-separated non-feature columns (used without model metadata).
        primary_metric: Scalar returned as `primary_metric_value`, e.g. for a threshold gate.

    Returns:
        primary_metric_value: The value of `primary_metric`.
    """
    import collections

    from vtp.components.evaluation import metrics as core
    from vtp.gcs import to_local_path

    result = core.evaluate(
        model_dir=to_local_path(model.uri),
        test_path=to_local_path(test.uri),
        target_column=target_column,
        exclude_columns=exclude_columns,
    )
    value = result.metric(primary_metric)
    for name, scalar in sorted(result.scalars.items()):
        metrics.log_metric(name, scalar)
    metrics.log_metric("test_rows", result.rows)
    classification_metrics.log_confusion_matrix(result.classes, result.confusion_matrix)
    if result.roc is not None:
        classification_metrics.log_roc_curve(result.roc.fpr, result.roc.tpr, result.roc.thresholds)
    print(f"evaluated on {result.rows} rows ({result.task}): {result.scalars}")
    print(f"{primary_metric} = {value}")
    outputs = collections.namedtuple("Outputs", ["primary_metric_value"])
    return outputs(value)
