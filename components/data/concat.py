"""Concatenating two splits into one split directory, streaming (memory stays flat)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from vtp.components.data import engine, shards
from vtp.components.data.split_reader import scan_split, split_files
from vtp.errors import DataError

engine.configure()


@dataclass(frozen=True)
class Merged:
    """What `concat_splits` wrote: rows, the shard names (in `out_dir`) and their format."""

    rows: int
    files: list[str]
    data_format: str


def concat_splits(
    locations: list[str], out_dir: str, *, prefix: str = "training", data_format: str = ""
) -> Merged:
    """Writes the rows of every split in `locations` (shard directories, wildcards or the old
    single-Parquet layout, same columns in any order) as `<prefix>-*` shards in `out_dir`.

    Args:
        locations: The splits, in order.
        out_dir: The output split directory.
        prefix: The shard prefix (`training` for a re-train's data).
        data_format: csv | jsonl | parquet; "" keeps the first split's format.
    """
    import polars as pl

    fmt = data_format or split_files(locations[0])[1]
    frames = [scan_split(loc) for loc in locations]
    try:
        names = [f.collect_schema().names() for f in frames]
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cannot read the splits to merge: {exc}") from None
    for loc, cols in zip(locations[1:], names[1:], strict=True):
        if set(cols) != set(names[0]):
            raise DataError(
                f"cannot merge {loc!r}: its columns {sorted(cols)} differ from "
                f"{sorted(names[0])} ({locations[0]!r})"
            )
    merged = pl.concat([f.select(names[0]) for f in frames], how="vertical_relaxed")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)

    def path(args) -> str:
        return os.path.join(out_dir, shards.partial_name(prefix, args.index_in_partition, fmt))

    target = pl.PartitionBy(out_dir, file_path_provider=path, approximate_bytes_per_file=256 << 20)
    sink = {"parquet": merged.sink_parquet, "csv": merged.sink_csv, "jsonl": merged.sink_ndjson}
    count = merged.select(pl.len().alias("rows"))
    try:
        result = pl.collect_all([sink[fmt](target, lazy=True), count], engine="streaming")
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cannot merge {locations}: {exc}") from None
    files = shards.finish_shards(out_dir, prefix, fmt)
    return Merged(int(result[-1]["rows"][0]), files, fmt)
