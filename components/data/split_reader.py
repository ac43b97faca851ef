"""Read a split back: a directory of shards in any format, a wildcard, or the old layout.

Accepted:
- a split directory of `training-00000-of-00002.csv`-style shards (csv, jsonl, parquet);
- the wildcard `AIP_*_DATA_URI` form, `<dir>/training-*` (local, `/gcs/...` or `gs://`);
- the layout of earlier vtp versions: one Parquet file, or a directory of Parquet / CSV files.
"""

from __future__ import annotations

import glob
import os
from typing import TYPE_CHECKING

from vtp.components.data import shards
from vtp.errors import DataError
from vtp.gcs import to_local_path

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

_PARQUET_MAGIC = b"PAR1"
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


def split_files(location: str) -> tuple[list[str], str]:
    """The files of a split and their one format.

    Raises:
        DataError: nothing there, or files of several formats.
    """
    path = to_local_path(location)
    if any(c in path for c in "*?["):
        files = sorted(p for p in glob.glob(path) if os.path.isfile(p))
    elif os.path.isdir(path):
        files = shards.list_shards(path) or sorted(
            os.path.join(path, n)
            for n in os.listdir(path)
            if not n.startswith((".", "_")) and os.path.isfile(os.path.join(path, n))
        )
    elif os.path.isfile(path):
        files = [path]
    else:
        raise DataError(f"split {location!r}: no such file, directory or matching shards")
    if not files:
        raise DataError(f"split {location!r} holds no data files")
    formats = {_format(f) for f in files}
    if len(formats) > 1:
        raise DataError(f"split {location!r} mixes formats {sorted(formats)}; expected one")
    return files, formats.pop()


def _format(path: str) -> str:
    fmt = shards.format_of_shard(path) or _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if fmt:
        return fmt
    with open(path, "rb") as f:
        return "parquet" if f.read(4) == _PARQUET_MAGIC else "csv"


def scan_split(location: str, columns: list[str] | None = None) -> pl.LazyFrame:
    """A LazyFrame over a split's rows (shards in order); `columns` selects some."""
    import polars as pl

    files, fmt = split_files(location)
    if fmt == "parquet":
        frame = pl.scan_parquet(files)
    elif fmt == "jsonl":
        frame = pl.scan_ndjson(files, infer_schema_length=None)
    else:
        frame = pl.scan_csv(files, infer_schema_length=None)
    return frame.select(columns) if columns else frame


def read_split(location: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A split's rows as a Polars DataFrame."""
    import polars as pl

    try:
        return scan_split(location, columns).collect()
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cannot read split {location!r}: {exc}") from None


def read_split_pandas(location: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A split's rows as a pandas DataFrame (missing values as None / NaN)."""
    return read_split(location, columns).to_pandas()
