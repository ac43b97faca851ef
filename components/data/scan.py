"""Local files of one format as one Polars `LazyFrame` (streaming scans, files in order).

CSV and JSON Lines column types are inferred from the first `INFER_ROWS` rows; when later
rows do not fit them the caller scans again with `infer_rows=None` (every row). Blank CSV
cells are null in every column type, never `''`. Files of one source must hold the same
columns; CSV files may list them in another order (they are scanned one by one and
re-ordered), Parquet and JSON Lines files are matched by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vtp.components.data.sources import SourceFile, compression_of, schema_mismatch
from vtp.errors import DataError

if TYPE_CHECKING:
    import polars as pl

#: Rows read to infer CSV / JSON Lines column types before streaming.
INFER_ROWS = 10_000


def scan_files(files: list[SourceFile], fmt: str, *, infer_rows: int | None) -> pl.LazyFrame:
    """One LazyFrame over `files` (local paths), in order.

    Raises:
        DataError: files whose columns differ, or a CSV file without a header row.
    """
    import polars as pl

    if fmt != "parquet":
        files = [f for f in files if f.size > 0]  # an empty text file holds no rows
        if not files:
            return pl.LazyFrame()
    paths = [f.local_path for f in files]
    if fmt == "parquet":
        _check_same_columns(files, [_parquet_schema(p) for p in paths])
        return pl.scan_parquet(paths, missing_columns="raise", extra_columns="raise")
    if fmt == "jsonl":
        return pl.scan_ndjson(paths, infer_schema_length=infer_rows)
    headers = [_csv_header(f) for f in files]
    _check_same_columns(files, headers)
    if all(h == headers[0] for h in headers):
        return pl.scan_csv(paths, infer_schema_length=infer_rows)
    order = headers[0]
    frames = [pl.scan_csv(p, infer_schema_length=infer_rows).select(order) for p in paths]
    return pl.concat(frames, how="vertical_relaxed")


def _parquet_schema(path: str) -> dict[str, str]:
    import polars as pl

    try:
        return {name: type_name(kind) for name, kind in pl.read_parquet_schema(path).items()}
    except Exception as exc:  # polars raises several types for a file that is not Parquet
        raise DataError(f"cannot read {path!r} as parquet: {exc}") from None


def _csv_header(src: SourceFile) -> list[str]:
    """The column names of a CSV file's first line (decompressed when needed)."""
    import polars as pl

    if compression_of(src.name):
        frame = pl.read_csv(src.local_path, n_rows=0)
    else:
        with open(src.local_path, "rb") as f:
            line = f.readline(1 << 20)
        frame = pl.read_csv(line, n_rows=0)
    return frame.columns


def _check_same_columns(files: list[SourceFile], columns: list) -> None:
    first = columns[0]
    for src, cols in zip(files[1:], columns[1:], strict=True):
        if sorted(cols) != sorted(first):
            raise schema_mismatch(files[0].name, first, src.name, cols)
        if hasattr(cols, "items") and any(cols[k] != first[k] for k in first):
            raise schema_mismatch(files[0].name, first, src.name, cols)


_TYPE_NAMES = {"String": "string", "Float64": "double", "Float32": "float", "Boolean": "bool"}


def type_name(kind: pl.DataType) -> str:
    """A column type as metadata shows it: Arrow's name for the common types (`int64`,
    `double`, `string`, `bool`), Polars' for the others."""
    text = str(kind)
    if text in _TYPE_NAMES:
        return _TYPE_NAMES[text]
    return text.lower() if kind.is_integer() else text
