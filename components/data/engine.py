"""Polars' streaming engine settings for the split (set before Polars is first imported).

Polars reads CSV and JSON Lines in chunks and buffers encoded output per sink; with its
defaults a 1 GB CSV split peaks near 600 MB on 2 cores. Smaller read chunks and sink morsels
keep the peak near 400 MB at the same speed (benchmarks/bench_load_dataset.py). These are
Polars' own environment variables: a value already set in the environment wins, and a Polars
version that ignores them changes only the memory used, never the split.
"""

from __future__ import annotations

import os

SETTINGS = {
    "POLARS_CSV_CHUNK_SIZE": str(6_000_000),
    "POLARS_NDJSON_CHUNK_SIZE": str(6_000_000),
    "POLARS_IDEAL_SINK_MORSEL_SIZE_BYTES": str(2_000_000),
}


def configure() -> None:
    """Sets `SETTINGS` in the environment where they are not set already."""
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)


configure()
