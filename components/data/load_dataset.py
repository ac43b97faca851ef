"""The `load_dataset` KFP component: a file, wildcard or BigQuery source -> three split
directories in the format the trainer gets (`AIP_DATA_FORMAT`), with the task detected."""

from typing import NamedTuple

from kfp.dsl import Dataset, Output

from vtp.components._component import vtp_component


@vtp_component
def load_dataset(
    source: str,
    train: Output[Dataset],
    validation: Output[Dataset],
    test: Output[Dataset],
    train_fraction: float = 0.8,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    key_column: str = "",
    file_format: str = "auto",
    target_column: str = "",
    task: str = "auto",
    primary_metric: str = "",
    metric_goal: str = "",
    data_format: str = "csv",
) -> NamedTuple("Outputs", [("row_count", int), ("task", str)]):
    """Split a dataset into train, validation and test directories of shards, streaming.

    Args:
        source: A file or wildcard, local or `gs://` (`gs://b/p/part-*.csv`), `sample://NAME`
            (a dataset shipped with vtp), a BigQuery table `bq://project.dataset.table`, or a
            query `bq-query:SELECT ...` (or text that starts with SELECT or WITH).
        train: Train split: `training-00000-of-0000N.<ext>` shards.
        validation: Validation split: `validation-...` shards.
        test: Test split: `test-...` shards.
        train_fraction: Share of rows in train (> 0).
        validation_fraction: Share of rows in validation.
        test_fraction: Share of rows in test; the three must sum to 1.
        seed: Seed of the deterministic split hash.
        key_column: Split by a hash of this column ("" = by row position: appended rows
            leave earlier rows in their split); with a key, a row keeps its split however the
            data grows or is reordered.
        file_format: "auto" (from the extension), "csv", "parquet" or "jsonl".
        target_column: The label: rows where it is missing go to no split (counted in the
            metadata), and the task is detected from its values.
        task: auto | binary | multiclass | regression (checked against the target's values).
        primary_metric: Checked against the task at load time, before training.
        metric_goal: maximize | minimize: checked against `primary_metric`.
        data_format: csv | jsonl | parquet (vtp's extension): the format of the shards and
            the trainer's `AIP_DATA_FORMAT`.

    Returns:
        row_count: Rows read in total.
        task: The task (detected or as given), "" without a target column.
    """
    from collections import namedtuple

    from vtp.components.data.splitting import split_dataset

    summary = split_dataset(
        source,
        train.path,
        validation.path,
        test.path,
        fractions=(train_fraction, validation_fraction, test_fraction),
        seed=seed,
        key_column=key_column or None,
        file_format=file_format,
        target_column=target_column,
        task=task,
        primary_metric=primary_metric,
        metric_goal=metric_goal,
        data_format=data_format,
    )
    for name, artifact in (("train", train), ("validation", validation), ("test", test)):
        artifact.metadata.update(summary.to_metadata(name, artifact.uri))
    print(f"load_dataset: {summary.describe()}")
    return namedtuple("Outputs", ["row_count", "task"])(summary.total_rows, summary.task)
