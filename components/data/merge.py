"""Component: one split made of two (e.g. train + validation for a final re-train)."""

from kfp.dsl import Dataset, Input, Output

from vtp.components._component import vtp_component


@vtp_component
def merge_datasets(first: Input[Dataset], second: Input[Dataset], merged: Output[Dataset]) -> int:
    """Streams `first` then `second` into `merged` as `training-*` shards in `first`'s format
    (same columns, any order; the old single-Parquet layout is read too); returns rows."""
    from vtp.components.data.concat import concat_splits
    from vtp.components.data.shards import wildcard_uri

    result = concat_splits([first.uri, second.uri], merged.path)
    merged.metadata.update(
        {
            "rows": result.rows,
            "row_count": result.rows,
            "data_format": result.data_format,
            "format": result.data_format,
            "files": result.files,
            "data_uri": wildcard_uri(merged.uri, "train"),
            "sources": [first.uri, second.uri],
        }
    )
    for key in ("schema", "task", "target_column", "classes"):
        if key in first.metadata:
            merged.metadata[key] = first.metadata[key]
    print(f"merged {result.rows} rows into {merged.uri}")
    return result.rows
