"""The layout of a split on disk, as Vertex's managed datasets hand data to a trainer.

A split artifact is a directory of shards `<prefix>-<i>-of-<n>.<ext>` (`training-00000-of-00002
.csv`, `validation-...`, `test-...`), every CSV shard with its header row. The trainer gets
`AIP_DATA_FORMAT` (`csv`, `jsonl`, or vtp's extension `parquet`) and
`AIP_TRAINING_DATA_URI=<artifact uri>/training-*` (Vertex's wildcard form).
"""

from __future__ import annotations

import os
import re

#: Split name -> shard file prefix (Vertex's names).
PREFIXES = {"train": "training", "validation": "validation", "test": "test"}
#: Output formats and their file extensions.
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
DATA_FORMATS = tuple(EXTENSIONS)
_SHARD = re.compile(r"^(training|validation|test)-(\d{5})-of-(\d{5})\.(csv|jsonl|parquet)$")
_PARTIAL = re.compile(r"^(training|validation|test)-(\d{5})\.(csv|jsonl|parquet)$")


def shard_name(prefix: str, index: int, count: int, data_format: str) -> str:
    """`training-00000-of-00003.csv` and the like."""
    return f"{prefix}-{index:05d}-of-{count:05d}.{EXTENSIONS[data_format]}"


def partial_name(prefix: str, index: int, data_format: str) -> str:
    """A shard's name while the split is written (its count is not known yet)."""
    return f"{prefix}-{index:05d}.{EXTENSIONS[data_format]}"


def finish_shards(directory: str, prefix: str, data_format: str) -> list[str]:
    """Renames the partial shards of `directory` to their final `-of-<n>` names; returns the
    final names in order."""
    ext = EXTENSIONS[data_format]
    partial = sorted(
        n
        for n in os.listdir(directory)
        if (m := _PARTIAL.match(n)) and m.group(1) == prefix and m.group(3) == ext
    )
    names = []
    for i, name in enumerate(partial):
        final = shard_name(prefix, i, len(partial), data_format)
        os.replace(os.path.join(directory, name), os.path.join(directory, final))
        names.append(final)
    return names


def wildcard_uri(artifact_uri: str, split: str) -> str:
    """`<artifact uri>/training-*`: the `AIP_*_DATA_URI` of a split."""
    return f"{artifact_uri.rstrip('/')}/{PREFIXES[split]}-*"


def list_shards(directory: str) -> list[str]:
    """The shard files of a split directory, in order (any prefix and format)."""
    return sorted(os.path.join(directory, n) for n in os.listdir(directory) if _SHARD.match(n))


def format_of_shard(path: str) -> str | None:
    """The data format a shard's name implies, or None for other names."""
    m = _SHARD.match(os.path.basename(path))
    return m.group(4) if m else None
