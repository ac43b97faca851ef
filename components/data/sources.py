"""Listing, opening and reading dataset sources: local files, the `/gcs` mount or the GCS API.

A source is one file or a wildcard (`data/*.csv`, `gs://b/p/part-*.parquet`, `**` crosses
directories), or a dataset shipped with vtp, `sample://NAME` (`vtp.shipped`). Files are read
in sorted order. `gs://` URIs go through the Cloud Storage mount when there is one
(`$VTP_GCS_ROOT` locally, `/gcs` on Vertex), else through the `google-cloud-storage` client
(it honours `STORAGE_EMULATOR_HOST`): `fetch_to_disk` streams those objects into a local
directory first, since the readers scan local files.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from dataclasses import dataclass, replace
from typing import Any

from vtp.errors import DataError
from vtp.gcs import GCS_ROOT_ENV, gcs_root, gcs_to_mount, is_gcs_uri, mount_to_gcs
from vtp.shipped import is_sample_uri

FORMATS = ("csv", "parquet", "jsonl")
_FORMAT_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}
_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
#: Compressed text files (`x.csv.gz`) are decompressed while streaming.
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
_GLOB_CHARS = re.compile(r"[*?\[]")
#: Bytes fetched per request when reading through the Cloud Storage API.
GCS_CHUNK_SIZE = 16 << 20


@dataclass(frozen=True)
class SourceFile:
    """One file of a source.

    Attributes:
        name: How the file is reported: the local path or the `gs://` URI.
        size: Size in bytes.
        local_path: A path this process can open, or None when read through the GCS API.
        blob: The `google.cloud.storage.Blob` when read through the API.
    """

    name: str
    size: int
    local_path: str | None = None
    blob: Any = None


def normalize_format(file_format: str) -> str:
    """Validate `file_format`: "auto" or one of FORMATS (aliases json/ndjson/pq accepted)."""
    value = str(file_format).strip().lower()
    value = _FORMAT_ALIASES.get(value, value)
    if value != "auto" and value not in FORMATS:
        raise DataError(
            f"file_format must be 'auto' or one of {list(FORMATS)}, got {file_format!r}"
        )
    return value


def compression_of(name: str) -> str | None:
    """The codec of a compressed text file, from its extension (None when not compressed)."""
    return _COMPRESSIONS.get(os.path.splitext(name)[1].lower())


def format_of(name: str) -> str | None:
    """The format a file name's extension implies (`x.csv.gz` is csv), or None."""
    stem, ext = os.path.splitext(name.lower())
    if ext in _COMPRESSIONS:
        stem, ext = os.path.splitext(stem)
        return {"csv": "csv", "jsonl": "jsonl"}.get(_EXTENSIONS.get(ext, ""))
    return _EXTENSIONS.get(ext)


def resolve_format(files: list[SourceFile], file_format: str) -> str:
    """The one format of `files`: `file_format`, or detected from the extensions."""
    file_format = normalize_format(file_format)
    if file_format != "auto":
        return file_format
    found: dict[str, str] = {}
    for f in files:
        fmt = format_of(f.name)
        if fmt is None:
            known = ", ".join(sorted(_EXTENSIONS))
            raise DataError(
                f"file_format 'auto' cannot tell the format of {f.name!r} from its extension "
                f"(known: {known}, optionally + .gz/.bz2/.zst for text); "
                f"set file_format to one of {list(FORMATS)}"
            )
        found.setdefault(fmt, f.name)
    if len(found) > 1:
        examples = ", ".join(f"{fmt} ({name})" for fmt, name in found.items())
        raise DataError(f"source mixes file formats: {examples}; one source must hold one format")
    return next(iter(found))


def list_sources(source: str) -> list[SourceFile]:
    """The files `source` names, sorted; DataError when there are none."""
    if not source or not str(source).strip():
        raise DataError(f"source must be a path, a gs:// URI or a wildcard, got {source!r}")
    if is_sample_uri(source):
        return _list_sample(source)
    if not is_gcs_uri(source):
        return _list_local(source, source)
    root = gcs_root()
    if root is None:
        return _list_gcs_api(source)
    try:
        local = gcs_to_mount(source, root)
    except ValueError as exc:
        raise DataError(f"source {exc}") from None
    files = _list_local(local, source)
    return [SourceFile(mount_to_gcs(f.name, root) or f.name, f.size, f.local_path) for f in files]


def _list_sample(uri: str) -> list[SourceFile]:
    """`sample://NAME`: a dataset shipped in the vtp package (`vtp.shipped`)."""
    from vtp.shipped import SAMPLE_SCHEME, sample_data_dir, sample_datasets, sample_path

    try:
        path = sample_path(uri)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    root = str(sample_data_dir())
    try:
        files = _list_local(path, uri)
    except DataError:
        raise DataError(
            f"source {uri!r}: no such sample dataset; shipped: "
            f"{', '.join(SAMPLE_SCHEME + n for n in sample_datasets())}"
        ) from None
    return [
        SourceFile(SAMPLE_SCHEME + os.path.relpath(f.name, root), f.size, f.local_path)
        for f in files
    ]


def _list_local(path: str, shown: str) -> list[SourceFile]:
    if _GLOB_CHARS.search(path):
        matches = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
        if not matches:
            raise DataError(f"source wildcard {shown!r} matched no files")
        return [SourceFile(p, os.path.getsize(p), p) for p in matches]
    if os.path.isdir(path):
        raise DataError(
            f"source {shown!r} is a directory; name a file or a wildcard such as "
            f"{shown.rstrip('/')}/*.csv"
        )
    if not os.path.isfile(path):
        raise DataError(f"source file {shown!r} does not exist")
    return [SourceFile(path, os.path.getsize(path), path)]


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob over object names: `*`, `?` stay within one `/` level, `**` spans."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _list_gcs_api(uri: str) -> list[SourceFile]:
    from google.api_core.exceptions import NotFound
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage

    bucket_name, _, key = uri[len("gs://") :].partition("/")
    if not bucket_name or not key:
        raise DataError(f"source must be gs://<bucket>/<object or wildcard>, got {uri!r}")
    try:
        bucket = storage.Client().bucket(bucket_name)
    except DefaultCredentialsError as exc:
        raise DataError(
            f"cannot read {uri!r}: no Cloud Storage mount here (set {GCS_ROOT_ENV} or run where "
            f"/gcs is mounted) and no credentials for the Cloud Storage API ({exc})"
        ) from None
    try:
        match = _GLOB_CHARS.search(key)
        if match is None:
            blob = bucket.get_blob(key)
            if blob is None:
                raise DataError(f"source object {uri!r} does not exist")
            return [SourceFile(uri, int(blob.size or 0), blob=blob)]
        regex = glob_to_regex(key)
        blobs = [
            b
            for b in bucket.list_blobs(prefix=key[: match.start()])
            if not b.name.endswith("/") and regex.match(b.name)
        ]
    except NotFound:
        raise DataError(f"source bucket gs://{bucket_name} does not exist ({uri!r})") from None
    if not blobs:
        raise DataError(f"source wildcard {uri!r} matched no objects")
    blobs.sort(key=lambda b: b.name)
    return [SourceFile(f"gs://{bucket_name}/{b.name}", int(b.size or 0), blob=b) for b in blobs]


def fetch_to_disk(files: list[SourceFile], directory: str) -> list[SourceFile]:
    """`files` with every object read through the Cloud Storage API downloaded (streaming)
    into `directory`; local files are returned as they are."""
    out = []
    for i, src in enumerate(files):
        if src.local_path is not None:
            out.append(src)
            continue
        base = os.path.basename(src.name) or "object"
        path = os.path.join(directory, f"{i:05d}-{base}")
        src.blob.chunk_size = GCS_CHUNK_SIZE
        src.blob.download_to_filename(path)
        out.append(replace(src, local_path=path, blob=None))
    return out


def new_temp_dir(near: str) -> tempfile.TemporaryDirectory:
    """A temporary directory beside `near` (the output), on the same disk."""
    parent = os.path.dirname(os.path.abspath(near))
    os.makedirs(parent, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".vtp-source-", dir=parent)


def schema_mismatch(first: str, first_cols: Any, other: str, other_cols: Any) -> DataError:
    """The DataError for two files of one source whose columns differ (lists of names, or
    `{name: type}` mappings)."""

    def show(cols: Any) -> str:
        if hasattr(cols, "items"):
            return "[" + ", ".join(f"{name}: {kind}" for name, kind in cols.items()) + "]"
        return str(list(cols))

    return DataError(
        f"files in the source have mismatching schemas: {other!r} has {show(other_cols)}, "
        f"but {first!r} has {show(first_cols)}"
    )
