"""The `load_dataset` KFP component: a CSV / Parquet / JSON Lines source -> three Parquet splits."""

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
) -> NamedTuple("Outputs", [("row_count", int)]):
    """Split a dataset into train, validation and test Parquet files, streaming.

    Args:
        source: Local path or gs:// URI of a file or a wildcard (`gs://b/p/part-*.csv`), or
            `sample://NAME`, a dataset shipped with vtp.
        train: Train split (one Parquet file).
        validation: Validation split (one Parquet file).
        test: Test split (one Parquet file).
        train_fraction: Share of rows in train (> 0).
        validation_fraction: Share of rows in validation.
        test_fraction: Share of rows in test; the three must sum to 1.
        seed: Seed of the deterministic split hash.
        key_column: Split by a hash of this column instead of the row index ("" = index),
            so rows keep their split when the data grows.
        file_format: "auto" (from the extension), "csv", "parquet" or "jsonl".

    Returns:
        row_count: Rows read in total.
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
    )
    for name, artifact in (("train", train), ("validation", validation), ("test", test)):
        artifact.metadata.update(summary.to_metadata(name))
    print(f"load_dataset: {summary.describe()}")
    return namedtuple("Outputs", ["row_count"])(summary.total_rows)
