"""Stream a CSV / Parquet / JSON Lines source into train, validation and test Parquet files.

Rows are read in record batches and each split is written by one `ParquetWriter`, so memory
stays flat however large the input is. A row's split is a pure function of
`(seed, global row index)`, or of `(seed, key value)` when `key_column` is given: the same
input gives the same split on every run and for every block size, and with a key column a
row keeps its split when the data grows.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vtp.components.data.sources import (
    SourceFile,
    infer_schema,
    iter_record_batches,
    list_sources,
    normalize_format,
    resolve_format,
    schema_mismatch,
)
from vtp.errors import DataError
from vtp.gcs import to_local_path

SPLITS = ("train", "validation", "test")
#: Bytes of CSV / JSON Lines text parsed per record batch (pyarrow's own default).
DEFAULT_BLOCK_SIZE = 1 << 20
#: Blocks grow up to this size (x16 per retry) when a row does not fit in one.
MAX_BLOCK_SIZE = 256 << 20
#: Output Parquet codec (pyarrow's default).
COMPRESSION = "snappy"
#: A split's rows are buffered until one of these is reached, then written as one row group.
ROW_GROUP_ROWS = 1 << 20
ROW_GROUP_BYTES = 16 << 20
#: Row groups in flight on the write thread (being encoded or waiting); bounds memory.
WRITE_QUEUE_DEPTH = 2
_FRACTION_TOLERANCE = 1e-6

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)
_PRIME = 0x100000001B3  # FNV-1 64-bit prime: odd, so P**k is never 0 mod 2**64
_NULL_KEY = _U64(0x6E756C6C6B657921)


@dataclass(frozen=True)
class SplitSummary:
    """What `split_dataset` read and wrote.

    Attributes:
        source: The source as given.
        files: Every file read, in reading order.
        source_format: "csv", "parquet" or "jsonl".
        row_counts: Rows per split, keyed "train", "validation", "test".
        total_rows: Rows read.
        schema: Columns as `{"name", "type"}` dicts (Arrow type names).
        fractions: (train, validation, test) fractions used.
        seed: Seed of the split hash.
        key_column: Column the split hashes, or None for the row index.
    """

    source: str
    files: list[str]
    source_format: str
    row_counts: dict[str, int]
    total_rows: int
    schema: list[dict[str, str]]
    fractions: tuple[float, float, float]
    seed: int
    key_column: str | None = None

    def to_metadata(self, split: str) -> dict[str, Any]:
        """Artifact metadata for one split (JSON-serialisable)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        return {
            "split": split,
            "row_count": self.row_counts[split],
            "schema": [dict(c) for c in self.schema],
            "format": "parquet",
            "fractions": list(self.fractions),
            "seed": self.seed,
            "key_column": self.key_column or "",
            "source": self.source,
            "source_format": self.source_format,
            "source_file_count": len(self.files),
        }

    def describe(self) -> str:
        """One line: rows per split and how they were split."""
        by = f"key column {self.key_column!r}" if self.key_column else "row index"
        counts = ", ".join(f"{s} {self.row_counts[s]}" for s in SPLITS)
        return (
            f"{self.total_rows} rows from {len(self.files)} {self.source_format} file(s) at "
            f"{self.source} -> {counts} (fractions {'/'.join(f'{f:g}' for f in self.fractions)}, "
            f"seed {self.seed}, by {by})"
        )


def check_fractions(fractions: Any) -> tuple[float, float, float]:
    """Validate (train, validation, test): each in [0, 1], summing to 1, train > 0."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise DataError(
            f"fractions must be three numbers (train, validation, test), got {fractions!r}"
        ) from None
    if len(values) != 3:
        raise DataError(
            f"fractions must be three numbers (train, validation, test), got {fractions!r}"
        )
    for name, value in zip(SPLITS, values, strict=True):
        if not 0.0 <= value <= 1.0:
            raise DataError(f"{name} fraction must be in [0, 1], got {value!r}")
    total = math.fsum(values)
    if abs(total - 1.0) > _FRACTION_TOLERANCE:
        raise DataError(
            f"fractions must sum to 1 (within {_FRACTION_TOLERANCE:g}), got {values} "
            f"which sum to {total:.9g}"
        )
    if values[0] <= 0.0:
        raise DataError(f"train fraction must be > 0, got {values[0]!r}")
    return values  # type: ignore[return-value]


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of a uint64 array (returns a new array)."""
    z = x + _GOLDEN
    z ^= z >> _U64(30)
    z *= _MIX1
    z ^= z >> _U64(27)
    z *= _MIX2
    z ^= z >> _U64(31)
    return z


_powers = np.ones(1, dtype=_U64)


def _powers_upto(n: int) -> np.ndarray:
    global _powers
    if len(_powers) < n:
        size = max(n, 2 * len(_powers))
        _powers = np.cumprod(np.full(size, _PRIME, dtype=_U64))
        _powers = np.concatenate([np.ones(1, dtype=_U64), _powers[:-1]])
    return _powers


def hash_keys(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A stable 64-bit hash of each value's text form (`123` and `"123"` hash alike).

    Pure uint64 arithmetic on the UTF-8 bytes (a polynomial hash, then splitmix64): the
    same on every process, platform and version of numpy/pandas/pyarrow. Binary values hash
    their bytes; `5.0` hashes like `5` (Arrow prints it so); nulls share one hash.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    binary = binary or pa.types.is_fixed_size_binary(kind)
    try:
        arr = pc.cast(values, pa.large_binary() if binary else pa.large_string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
        raise DataError(f"key_column values of type {kind} cannot be hashed: {exc}") from None
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    lengths = np.diff(offsets)
    h = lengths.astype(_U64) * _U64(_PRIME)
    start, end = int(offsets[0]), int(offsets[-1])
    if end > start:
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[start:end].astype(_U64) + _U64(1)
        pos = np.repeat(offsets[1:], lengths) - np.arange(start + 1, end + 1)
        data *= _powers_upto(int(lengths.max()))[pos]
        nonempty = lengths > 0
        h[nonempty] += np.add.reduceat(data, offsets[:-1][nonempty] - start)
    h = mix64(h)
    if arr.null_count:
        h[arr.is_null().to_numpy(zero_copy_only=False)] = _NULL_KEY
    return h


class _Assigner:
    """Maps rows to split ids 0/1/2 from a hash of (seed, row index or key)."""

    def __init__(self, fractions: tuple[float, float, float], seed: int, key: str | None):
        total = math.fsum(fractions)
        train, validation, test = (f / total for f in fractions)
        upper = train + validation if test > 0 else 2.0
        self._bounds = np.array([train, upper])
        self._seed = mix64(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=_U64))[0]
        self.key = key

    def assign(self, batch: pa.RecordBatch, first_row: int) -> np.ndarray:
        if self.key is None:
            raw = np.arange(first_row, first_row + batch.num_rows, dtype=_U64)
        else:
            raw = hash_keys(batch.column(self.key))
        raw ^= self._seed
        unit = (mix64(raw) >> _U64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return np.searchsorted(self._bounds, unit, side="right").astype(np.int8)


class _WriteThread:
    """Encodes row groups on one background thread while the caller parses the next blocks.

    `submit` returns once at most `depth` row groups are in flight, so memory stays bounded.
    Writes run in submission order, so each file's row groups keep their order.
    """

    def __init__(self, depth: int = WRITE_QUEUE_DEPTH):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vtp-parquet")
        self._pending: deque[Future] = deque()
        self._depth = depth

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._pending.append(self._pool.submit(fn, *args))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def shutdown(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)


class _SplitWriter:
    """One Parquet file; batches are buffered into row groups of ROW_GROUP_ROWS/BYTES."""

    def __init__(self, path: str, schema: pa.Schema, thread: _WriteThread):
        self.schema = schema
        self.rows = 0
        self._thread = thread
        self._buffer: list[pa.RecordBatch] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._writer = pq.ParquetWriter(path, schema, compression=COMPRESSION)

    def write(self, batch: pa.RecordBatch) -> None:
        self._buffer.append(batch)
        self.rows += batch.num_rows
        self._buffered_rows += batch.num_rows
        self._buffered_bytes += batch.nbytes
        if self._buffered_rows >= ROW_GROUP_ROWS or self._buffered_bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            table = pa.Table.from_batches(self._buffer, self.schema)
            self._thread.submit(self._writer.write_table, table, max(1, self._buffered_rows))
            self._buffer, self._buffered_rows, self._buffered_bytes = [], 0, 0

    def close(self) -> None:
        """Close the file (after the write thread has drained)."""
        self._writer.close()


class _TypesChanged(Exception):
    """Types inferred from the first block do not fit later data (internal signal)."""


class _BlockTooSmall(Exception):
    """A CSV / JSON row is longer than the block size (internal signal)."""


def split_dataset(
    source: str,
    train_path: str,
    validation_path: str,
    test_path: str,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    key_column: str | None = None,
    file_format: str = "auto",
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> SplitSummary:
    """Split `source` into three Parquet files, streaming.

    Args:
        source: A local path or `gs://` URI of one file or a wildcard (files read sorted).
        train_path: Output Parquet file of the train split (parent dirs are created).
        validation_path: Output Parquet file of the validation split.
        test_path: Output Parquet file of the test split.
        fractions: (train, validation, test), each in [0, 1], summing to 1, train > 0.
            A split with fraction 0 is written as an empty Parquet file with the schema.
        seed: Seed of the split hash.
        key_column: Hash this column's values instead of the row index, so a row keeps its
            split when the data grows (and equal keys share a split).
        file_format: "auto" (from the extension), "csv", "parquet" or "jsonl".
        block_size: Bytes of CSV / JSON Lines text per record batch (the split does not
            depend on it).

    Returns:
        A SplitSummary of rows per split, schema and files read.

    Raises:
        DataError: missing files, empty data, unknown format, bad fractions, unknown key
            column, files with mismatching schemas, or data that cannot be parsed.
    """
    fractions = check_fractions(fractions)
    file_format = normalize_format(file_format)
    if int(block_size) < 1024:
        raise DataError(f"block_size must be at least 1024 bytes, got {block_size!r}")
    key_column = key_column or None
    files = list_sources(source)
    fmt = resolve_format(files, file_format)
    paths = [to_local_path(p) for p in (train_path, validation_path, test_path)]
    for path in paths:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    assigner = _Assigner(fractions, seed, key_column)
    try:
        schema, counts = _split_files(files, fmt, paths, assigner, int(block_size))
    except BaseException:
        for path in paths:
            if os.path.exists(path):
                os.remove(path)
        raise
    return SplitSummary(
        source=source,
        files=[f.name for f in files],
        source_format=fmt,
        row_counts=dict(zip(SPLITS, counts, strict=True)),
        total_rows=sum(counts),
        schema=[{"name": f.name, "type": str(f.type)} for f in schema],
        fractions=fractions,
        seed=int(seed),
        key_column=key_column,
    )


def _split_files(
    files: list[SourceFile], fmt: str, paths: list[str], assigner: _Assigner, block_size: int
) -> tuple[pa.Schema, list[int]]:
    """Stream all files; retry with wider types or bigger blocks when the first try fails."""
    full_schema = None
    while True:
        try:
            return _stream(files, fmt, paths, assigner, block_size, full_schema)
        except _BlockTooSmall:
            if block_size >= MAX_BLOCK_SIZE:
                raise DataError(
                    f"a row of the source is longer than {MAX_BLOCK_SIZE} bytes; "
                    "rows must fit in one block"
                ) from None
            block_size = min(block_size * 16, MAX_BLOCK_SIZE)
        except _TypesChanged:
            full_schema = infer_schema(files, fmt, block_size=block_size)


def _stream(
    files: list[SourceFile],
    fmt: str,
    paths: list[str],
    assigner: _Assigner,
    block_size: int,
    full_schema: pa.Schema | None,
) -> tuple[pa.Schema, list[int]]:
    """One pass over every file; `full_schema` None means infer from the first block."""
    writers: list[_SplitWriter] = []
    thread = _WriteThread()
    schema = full_schema
    first_file = ""
    row = 0
    try:
        for src in files:
            for batch in _batches(src, fmt, block_size, schema, strict=full_schema is not None):
                if not writers:
                    schema = _check_key(batch.schema.remove_metadata(), assigner.key)
                    first_file = src.name
                    writers = [_SplitWriter(p, schema, thread) for p in paths]
                batch = _conform(batch, schema, fmt, full_schema is not None, first_file, src)
                if batch.num_rows == 0:
                    continue
                ids = assigner.assign(batch, row)
                row += batch.num_rows
                counts = np.bincount(ids, minlength=3)
                for k, writer in enumerate(writers):
                    if counts[k] == batch.num_rows:
                        writer.write(batch)
                    elif counts[k]:
                        writer.write(batch.filter(_bool_array(ids == k)))
        if row == 0:
            raise DataError(
                f"source has no data rows: read {len(files)} file(s) "
                f"({', '.join(f.name for f in files[:5])}{', ...' if len(files) > 5 else ''})"
            )
        for writer in writers:
            writer.flush()
        thread.drain()
    finally:
        thread.shutdown()
        for writer in writers:
            writer.close()
    return schema, [w.rows for w in writers]


def _bool_array(mask: np.ndarray) -> pa.Array:
    """A numpy bool mask as an Arrow array (bit-packed; `pa.array` would import pandas)."""
    bits = np.packbits(mask, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def _batches(
    src: SourceFile, fmt: str, block_size: int, schema: pa.Schema | None, strict: bool
) -> Iterator[pa.RecordBatch]:
    try:
        yield from iter_record_batches(
            src, fmt, block_size=block_size, schema=schema, strict=strict
        )
    except (pa.ArrowInvalid, OSError) as exc:
        if "Empty CSV file" in str(exc):
            return
        if "straddles two block boundaries" in str(exc):
            raise _BlockTooSmall from exc
        if fmt != "parquet" and not strict and isinstance(exc, pa.ArrowInvalid):
            raise _TypesChanged from exc
        raise DataError(f"cannot read {src.name!r} as {fmt}: {exc}") from None


def _check_key(schema: pa.Schema, key: str | None) -> pa.Schema:
    if key is not None and key not in schema.names:
        raise DataError(
            f"key_column {key!r} is not a column of the source; columns: {schema.names}"
        )
    if key is not None and pa.types.is_nested(schema.field(key).type):
        raise DataError(
            f"key_column {key!r} must hold scalar values (numbers, text, dates), "
            f"got type {schema.field(key).type}"
        )
    return schema


def _conform(
    batch: pa.RecordBatch,
    schema: pa.Schema,
    fmt: str,
    strict: bool,
    first_file: str,
    src: SourceFile,
) -> pa.RecordBatch:
    """`batch` with `schema`'s column order; mismatches are errors (or new types to infer)."""
    if batch.schema.equals(schema):
        return batch
    same_names = sorted(batch.schema.names) == sorted(schema.names)
    if same_names:
        reordered = batch.select(schema.names)
        if reordered.schema.equals(schema):
            return reordered
    if fmt == "parquet" or (fmt == "csv" and not same_names) or strict:
        raise schema_mismatch(first_file, schema, src.name, batch.schema)
    raise _TypesChanged
