"""Polars' streaming engine settings for the split (set before Polars is first imported).

With its defaults, Polars' streaming engine splitting a 1 GB source on 2 cores peaks near
600 MB for CSV, 1.5 GB for Parquet (a row index over a Parquet scan buffers decoded row
groups) and, for JSON Lines, at the size of the file (its reader maps the whole file into
memory, and mapped pages count as resident). Smaller read chunks, morsels and sink morsels keep
CSV and Parquet near 300-400 MB at the same CPU cost, and the asynchronous reader streams JSON
Lines instead of mapping it (benchmarks/bench_load_dataset.py). These are Polars' own
environment variables, read once when Polars starts: a value already set in the environment
wins, they have no effect once Polars has been imported, and a Polars version that ignores
them changes only the memory used, never the split.
"""

from __future__ import annotations

import os
import sys

SETTINGS = {
    "POLARS_CSV_CHUNK_SIZE": str(6_000_000),
    "POLARS_NDJSON_CHUNK_SIZE": str(6_000_000),
    "POLARS_IDEAL_SINK_MORSEL_SIZE_BYTES": str(2_000_000),
    "POLARS_IDEAL_MORSEL_SIZE": str(40_000),
}
#: Added when the source is JSON Lines (and Polars is not running yet).
JSONL_SETTINGS = {"POLARS_FORCE_ASYNC": "1"}


def configure(source_format: str | None = None) -> bool:
    """Sets `SETTINGS` (and, for a JSON Lines source, `JSONL_SETTINGS`) where the environment
    does not set them already. Returns False when Polars is already imported (too late)."""
    settings = {**SETTINGS, **(JSONL_SETTINGS if source_format == "jsonl" else {})}
    for name, value in settings.items():
        os.environ.setdefault(name, value)
    return "polars" not in sys.modules


configure()
