"""Reading training data: Parquet or CSV files, directories of them, or wildcards.

`gs://bucket/x` is read at `/gcs/bucket/x`, the Cloud Storage FUSE mount of Vertex AI
(or under `$VTP_GCS_ROOT` when vtp's local twin sets it).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

import pandas as pd

from trainer import TrainerError

GCS_FUSE_ROOT = "/gcs"
GCS_ROOT_ENV = "VTP_GCS_ROOT"
_PARQUET_MAGIC = b"PAR1"
_WILDCARD_CHARS = "*?["


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
            f"data URI {uri!r} is not supported: use a local path or gs:// (Parquet or CSV)"
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


def is_parquet(path: str) -> bool:
    """True for a Parquet file (by its magic bytes, whatever its name)."""
    with open(path, "rb") as f:
        return f.read(4) == _PARQUET_MAGIC


def read_file(path: str) -> pd.DataFrame:
    """One Parquet or CSV file as a DataFrame."""
    try:
        return pd.read_parquet(path) if is_parquet(path) else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError) as e:
        raise TrainerError(f"cannot read {path} as Parquet or CSV: {e}") from e


def read_table(uri: str) -> pd.DataFrame:
    """Every file behind `uri`, concatenated. Raises TrainerError when there is no row."""
    files = list_files(uri)
    frames = [read_file(p) for p in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise TrainerError(f"data URI {uri!r}: no rows in {len(files)} file(s)")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def feature_columns(frame: pd.DataFrame, target: str, exclude: Sequence[str]) -> list[str]:
    """Columns used as features: all but the target and `exclude`, in table order.

    Raises TrainerError when the target is missing, no feature is left, or a feature is not
    numeric.
    """
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
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise TrainerError(
            f"feature columns must be numeric or boolean; not numeric: {', '.join(map(str, bad))} "
            "(drop them with --exclude-columns)"
        )
    return features


def xy(frame: pd.DataFrame, features: Sequence[str], target: str, role: str):
    """`(X, y)` as a float array and a label array; rows with no label are dropped."""
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise TrainerError(f"{role} data lacks column(s) {', '.join(map(str, missing))}")
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise TrainerError(f"{role} data has no row with a value in target column {target!r}")
    try:
        x = labelled[list(features)].to_numpy(dtype="float64")
    except (TypeError, ValueError) as e:
        raise TrainerError(f"{role} data: feature columns are not all numeric: {e}") from e
    return x, labelled[target].to_numpy()
