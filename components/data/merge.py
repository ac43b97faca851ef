"""Component: one Parquet dataset made of two (e.g. train + validation for a final re-train)."""

from kfp.dsl import Dataset, Input, Output

from vtp.components._component import vtp_component


@vtp_component
def merge_datasets(first: Input[Dataset], second: Input[Dataset], merged: Output[Dataset]) -> int:
    """Streams `first` then `second` into `merged` (same columns, any order); returns rows."""
    from vtp.components.data.concat import concat_parquet
    from vtp.gcs import to_local_path

    rows = concat_parquet([to_local_path(first.uri), to_local_path(second.uri)], merged.path)
    merged.metadata.update(
        {"row_count": rows, "format": "parquet", "sources": [first.uri, second.uri]}
    )
    print(f"merged {rows} rows into {merged.uri}")
    return rows
