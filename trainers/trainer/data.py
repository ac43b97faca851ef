"""Reading training data as Vertex AI hands it over: CSV, JSON Lines or Parquet files, a
wildcard of shards (`gs://b/dir/training-*`), a directory of them, or one file.

`gs://bucket/x` is read at `/gcs/bucket/x`, the Cloud Storage FUSE mount of Vertex AI
(or under `$VTP_GCS_ROOT` when vtp's local twin sets it). The format is `AIP_DATA_FORMAT`
when set (`csv`, Vertex's default, `jsonl` or `parquet`), else each file's extension or
content. Empty cells stay missing values.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from trainer import TrainerError
from trainer.model import BINARY, MULTICLASS, REGRESSION

GCS_FUSE_ROOT = "/gcs"
GCS_ROOT_ENV = "VTP_GCS_ROOT"
FORMAT_ENV = "AIP_DATA_FORMAT"
FORMATS = ("csv", "jsonl", "parquet")
_PARQUET_MAGIC = b"PAR1"
_WILDCARD_CHARS = "*?["
#: An integer-valued numeric target with at most this many distinct values is a class label.
MAX_INTEGER_CLASSES = 20


def local_path(uri: str) -> str:
    """A path this process can open: `gs://b/x` -> `/gcs/b/x`; other paths pass through."""
    if not uri.startswith("gs://"):
        return uri
    rest = uri[len("gs://") :]
    if not rest or rest.startswith("/"):
        raise TrainerError(f"URI {uri!r} has no bucket: expected gs://BUCKET/PATH")
    root = os.environ.get(GCS_ROOT_ENV) or GCS_FUSE_ROOT
    return os.path.join(root, rest)


def list_files(uri: str) -> list[str]:
    """The data files behind `uri`: a file, a directory's files, or a wildcard's matches."""
    if "://" in uri and not uri.startswith("gs://"):
        raise TrainerError(
            f"data URI {uri!r} is not supported: use a local path or gs:// (BigQuery tables "
            "are not read by this trainer)"
        )
    path = local_path(uri)
    if any(c in path for c in _WILDCARD_CHARS):
        files = sorted(p for p in glob.glob(path) if os.path.isfile(p))
    elif os.path.isdir(path):
        files = sorted(
            os.path.join(path, name)
            for name in os.listdir(path)
            if not name.startswith((".", "_")) and os.path.isfile(os.path.join(path, name))
        )
    elif os.path.isfile(path):
        files = [path]
    else:
        raise TrainerError(f"data URI {uri!r}: no such file or directory ({path})")
    if not files:
        raise TrainerError(f"data URI {uri!r}: no data files found at {path}")
    return files


def file_format(path: str, declared: str | None = None) -> str:
    """`declared` (from `AIP_DATA_FORMAT`) when given, else by extension, else by content."""
    if declared:
        if declared not in FORMATS:
            raise TrainerError(
                f"{FORMAT_ENV}={declared!r} is not read by this trainer: use {', '.join(FORMATS)}"
            )
        return declared
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jsonl", ".json"):
        return "jsonl"
    if ext == ".parquet":
        return "parquet"
    with open(path, "rb") as f:
        return "parquet" if f.read(4) == _PARQUET_MAGIC else "csv"


def read_file(path: str, declared: str | None = None) -> pd.DataFrame:
    """One file as a DataFrame."""
    fmt = file_format(path, declared)
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "jsonl":
            return pd.read_json(path, lines=True)
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as e:
        raise TrainerError(f"cannot read {path} as {fmt}: {e}") from e


def read_table(uri: str, declared: str | None = None) -> pd.DataFrame:
    """Every file behind `uri`, concatenated. Raises TrainerError when there is no row."""
    files = list_files(uri)
    frames = [read_file(p, declared) for p in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise TrainerError(f"data URI {uri!r}: no rows in {len(files)} file(s)")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def feature_columns(frame: pd.DataFrame, target: str, exclude: Sequence[str]) -> list[str]:
    """Columns used as features: all but the target and `exclude`, in table order."""
    if target not in frame.columns:
        raise TrainerError(
            f"--target-column {target!r} is not a column of the data; columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    features = [c for c in frame.columns if c != target and c not in set(exclude)]
    if not features:
        raise TrainerError(
            f"no feature column left after removing target {target!r} and "
            f"--exclude-columns {','.join(exclude)!r}"
        )
    return features


def categorical_columns(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """The features that are not numeric (strings, categories): encoded as categories."""
    return [
        c
        for c in features
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]


def detect_task(y: pd.Series) -> str:
    """`binary`, `multiclass` or `regression` from the target's values: strings, booleans and
    integers with at most `MAX_INTEGER_CLASSES` distinct values are classes; other numbers
    are a regression target."""
    values = y.dropna()
    distinct = values.nunique()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        integral = bool(np.all(np.isclose(numbers, np.round(numbers))))
        if not integral or distinct > MAX_INTEGER_CLASSES:
            return REGRESSION
    return BINARY if distinct <= 2 else MULTICLASS


def matrix(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Rows as the prediction server gets them: floats when every feature is numeric, else
    objects (strings kept, missing values NaN)."""
    part = frame[list(features)]
    if all(pd.api.types.is_numeric_dtype(part[c]) for c in part.columns):
        return part.to_numpy(dtype="float64", na_value=np.nan)
    values = part.astype(object).to_numpy()
    values[pd.isna(part).to_numpy()] = np.nan
    return values


def xy(frame: pd.DataFrame, features: Sequence[str], target: str, role: str, task: str):
    """`(X, y)`; rows with no label are dropped."""
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise TrainerError(f"{role} data lacks column(s) {', '.join(map(str, missing))}")
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise TrainerError(f"{role} data has no row with a value in target column {target!r}")
    y = labelled[target]
    if task == REGRESSION:
        try:
            y = y.astype("float64")
        except (TypeError, ValueError) as e:
            raise TrainerError(
                f"{role} data: target {target!r} is not numeric, so it cannot be a regression "
                f"target: {e}"
            ) from e
    return matrix(labelled, features), y.to_numpy()
