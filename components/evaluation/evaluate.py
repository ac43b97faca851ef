"""`evaluate_model`: a KFP component that measures a trained model on a test split."""

from typing import NamedTuple

from google_cloud_pipeline_components.types.artifact_types import (
    RegressionMetrics,
    UnmanagedContainerModel,
)
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Output

from vtp.components._component import vtp_component


@vtp_component
def evaluate_model(
    model: Input[UnmanagedContainerModel],
    test: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    regression_metrics: Output[RegressionMetrics],
    task: str = "auto",
    target_column: str = "target",
    exclude_columns: str = "id",
    primary_metric: str = "auc",
) -> NamedTuple("Outputs", [("primary_metric_value", float)]):
    """Evaluates the model directory's model on the test split with the metrics of its task.

    The model is loaded as Vertex's prebuilt prediction containers load it: `model.joblib` /
    `model.pkl` (scikit-learn API) or `model.bst` (XGBoost).

    Args:
        model: Model directory (`model_metadata.json`, if any, gives the feature order).
        test: Labelled test split: CSV, JSON Lines or Parquet files, or a directory of them.
        metrics: Every scalar of the task (binary: auc, accuracy, precision, recall, f1,
            log_loss; multiclass: accuracy, f1_macro, log_loss, auc_ovr; regression: rmse,
            mae, r2 and the residual summary), plus test_rows.
        classification_metrics: Classifiers: the confusion matrix and the ROC (multiclass: each
            class against the rest).
        regression_metrics: Regressors: rootMeanSquaredError, meanAbsoluteError, rSquared,
            and actualValues / predictedValues: up to 500 test rows, evenly spaced.
        task: `auto` (from the model), `binary`, `multiclass` or `regression`; a model that
            does not fit the task is an error.
        target_column: Label column of the test split.
        exclude_columns: Comma-separated non-feature columns (used without model metadata).
        primary_metric: Scalar returned as `primary_metric_value`, e.g. for a threshold gate.

    Returns:
        primary_metric_value: The value of `primary_metric`.
    """
    import collections

    from vtp.components.evaluation.artifacts import log_evaluation
    from vtp.components.evaluation.metrics import evaluate
    from vtp.gcs import to_local_path

    result = evaluate(
        model_dir=to_local_path(model.uri),
        test_path=to_local_path(test.uri),
        target_column=target_column,
        exclude_columns=exclude_columns,
        task=task,
    )
    value = result.metric(primary_metric)
    log_evaluation(result, metrics, classification_metrics, regression_metrics)
    print(f"evaluated on {result.rows} rows ({result.task}): {result.scalars}")
    print(f"{primary_metric} = {value}")
    outputs = collections.namedtuple("Outputs", ["primary_metric_value"])
    return outputs(value)
