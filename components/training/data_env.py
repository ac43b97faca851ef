"""The data of a training job, as Vertex AI hands a managed dataset's splits to a trainer.

Vertex sets `AIP_TRAINING_DATA_URI`, `AIP_VALIDATION_DATA_URI`, `AIP_TEST_DATA_URI` (wildcards
such as `gs://bucket/dir/training-*`) and `AIP_DATA_FORMAT` (`csv`, `jsonl`, `bigquery`)
("Prepare training code", managed datasets). vtp's splits are written in that shape
(`<artifact>/training-00000-of-0000N.csv`...) and their artifact metadata names the wildcard
(`data_uri`) and the format (`data_format`), so a trainer written from the Vertex docs reads
them unchanged. An artifact without that metadata (a single file, or a directory of shards)
is described from what is on disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from vtp.gcs import to_local_path

#: Split -> (environment variable, Vertex's file name prefix).
SPLIT_VARIABLES = {
    "training": "AIP_TRAINING_DATA_URI",
    "validation": "AIP_VALIDATION_DATA_URI",
    "test": "AIP_TEST_DATA_URI",
}
FORMAT_VARIABLE = "AIP_DATA_FORMAT"
#: Formats by file extension; `csv` is Vertex's default.
EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
DEFAULT_FORMAT = "csv"
_SHARD = re.compile(r"(?P<prefix>.+)-\d{5}-of-\d{5}(?P<ext>\.\w+)?$")
_PARQUET_MAGIC = b"PAR1"


def split_uri(uri: str, metadata: Mapping[str, object], split: str) -> str:
    """The URI a trainer is given for one split artifact: its metadata's `data_uri`, else
    `<uri>/<prefix>-*` for a directory of shards, else `uri` itself."""
    named = metadata.get("data_uri")
    if isinstance(named, str) and named:
        return named
    local = _local(uri)
    if local and os.path.isdir(local):
        prefixes = sorted(
            {m["prefix"] for n in os.listdir(local) if (m := _SHARD.match(n)) is not None}
        )
        prefix = split if split in prefixes else (prefixes[0] if len(prefixes) == 1 else split)
        return f"{uri.rstrip('/')}/{prefix}-*"
    return uri


def split_format(uri: str, metadata: Mapping[str, object]) -> str:
    """`csv`, `jsonl` or `parquet`: the metadata's `data_format`, else from the files."""
    named = metadata.get("data_format")
    if isinstance(named, str) and named:
        return named
    local = _local(uri)
    files: list[str] = []
    if local and os.path.isdir(local):
        files = sorted(os.path.join(local, n) for n in os.listdir(local) if not n.startswith("."))
    elif local and os.path.isfile(local):
        files = [local]
    for path in files:
        ext = EXTENSIONS.get(os.path.splitext(path)[1].lower())
        if ext:
            return ext
        try:
            with open(path, "rb") as f:
                if f.read(4) == _PARQUET_MAGIC:
                    return "parquet"
        except OSError:
            continue
    return DEFAULT_FORMAT


def data_env(splits: Mapping[str, tuple[str, Mapping[str, object]]]) -> dict[str, str]:
    """`AIP_*_DATA_URI` and `AIP_DATA_FORMAT` for `{"training": (uri, metadata), ...}`.

    The format is the training split's (the splits of one dataset share it).
    """
    env = {}
    for split, (uri, metadata) in splits.items():
        env[SPLIT_VARIABLES[split]] = split_uri(uri, metadata or {}, split)
    training = splits.get("training")
    if training is not None:
        env[FORMAT_VARIABLE] = split_format(training[0], training[1] or {})
    return env


def _local(uri: str) -> str | None:
    try:
        return to_local_path(uri)
    except ValueError:
        return None
