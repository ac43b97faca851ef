"""Concatenating Parquet files batch by batch (memory stays flat)."""

from __future__ import annotations

from pathlib import Path

from vtp.errors import DataError


def concat_parquet(paths: list[str], out_path: str) -> int:
    """Writes the rows of every file in `paths` to `out_path`; returns the row count."""
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(p) for p in paths]
    schema = files[0].schema_arrow
    for path, f in zip(paths[1:], files[1:], strict=True):
        if set(f.schema_arrow.names) != set(schema.names):
            raise DataError(
                f"cannot merge {path!r}: its columns {sorted(f.schema_arrow.names)} differ from "
                f"{sorted(schema.names)}"
            )
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(out_path, schema) as writer:
        for f in files:
            for batch in f.iter_batches():
                table = batch.select(schema.names).cast(schema)
                writer.write_batch(table)
                rows += table.num_rows
    return rows
