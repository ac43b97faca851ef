"""Split a source into train, validation and test split directories in one streaming pass.

The engine is Polars' streaming engine: the source is scanned once (CSV / JSON Lines parsing,
Parquet decoding and the output encoders run on every core, morsel by morsel, so memory stays
flat whatever the input size) into one sink partitioned by split id; two pass-through
callbacks count the rows of each split and observe the target column batch by batch. A row's
split is vtp's own hash of its position in the source, or of its key value (`split_hash`),
never Polars' hash, whose values change between versions. Rows whose target is missing go to
no split; they are counted.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vtp.components.data import engine, shards
from vtp.components.data.scan import type_name
from vtp.components.data.sources import (
    FORMATS,
    SourceFile,
    fetch_to_disk,
    list_sources,
    new_temp_dir,
    normalize_format,
    resolve_format,
)
from vtp.components.data.split_hash import SPLITS, key_hash_expr, split_id_expr
from vtp.components.data.target import (
    FLOAT,
    ClassTracker,
    SplitCounter,
    TargetSummary,
    TaskDecision,
    decide_task,
    kind_of,
)
from vtp.components.evaluation import tasks
from vtp.errors import DataError, SpecError
from vtp.gcs import to_local_path

if TYPE_CHECKING:
    import polars as pl

#: Shards are cut at about this many bytes of in-memory data (Polars' estimate).
SHARD_BYTES = 256 << 20
#: Parquet codec of the splits (fast to write and read; every Parquet reader has it).
PARQUET_COMPRESSION = "lz4"
_FRACTION_TOLERANCE = 1e-6
engine.configure()
_ROW, _SPLIT = "__vtp_row__", "__vtp_split__"
#: The split id of a row whose target is missing (it goes to no split).
MISSING = 3


@dataclass(frozen=True)
class SplitSummary:
    """What `split_dataset` read and wrote.

    Attributes:
        source: The source as given.
        files: Every file read, in reading order (for BigQuery: the table or query).
        source_format: csv | parquet | jsonl | bigquery.
        row_counts: Rows per split, keyed "train", "validation", "test".
        total_rows: Rows read (missing targets included).
        schema: Columns as `{"name", "type"}` (Arrow type names).
        fractions: (train, validation, test).
        seed: Seed of the split hash.
        key_column: Column the split hashes, or None for the row position.
        data_format: csv | jsonl | parquet: the format of the shards.
        shards: Split -> shard file names (in the split's directory).
        target_column: The label column ("" when none was named).
        task: binary | multiclass | regression ("" without a target column).
        classes: The classes of a classification target.
        missing_target_rows: Rows left out of every split because their target is missing.
        task_note: Why `auto` chose the task.
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
    data_format: str = "csv"
    shards: dict[str, list[str]] = field(default_factory=dict)
    target_column: str = ""
    task: str = ""
    classes: list[Any] | None = None
    missing_target_rows: int = 0
    task_note: str = ""

    def to_metadata(self, split: str, artifact_uri: str = "") -> dict[str, Any]:
        """Artifact metadata for one split (JSON-serialisable)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        meta = {
            "split": split,
            "rows": self.row_counts[split],
            "row_count": self.row_counts[split],
            "schema": [dict(c) for c in self.schema],
            "data_format": self.data_format,
            "format": self.data_format,
            "files": list(self.shards.get(split, [])),
            "task": self.task,
            "target_column": self.target_column,
            "missing_target_rows": self.missing_target_rows,
            "fractions": list(self.fractions),
            "seed": self.seed,
            "key_column": self.key_column or "",
            "source": self.source,
            "source_format": self.source_format,
            "source_file_count": len(self.files),
        }
        if artifact_uri:
            meta["data_uri"] = shards.wildcard_uri(artifact_uri, split)
        if self.classes is not None:
            meta["classes"] = list(self.classes)
        return meta

    def describe(self) -> str:
        """One line: rows per split, how they were split, the task."""
        by = f"key column {self.key_column!r}" if self.key_column else "row position"
        counts = ", ".join(f"{s} {self.row_counts[s]}" for s in SPLITS)
        line = (
            f"{self.total_rows} rows from {len(self.files)} {self.source_format} source(s) at "
            f"{self.source} -> {counts} as {self.data_format} "
            f"(fractions {'/'.join(f'{f:g}' for f in self.fractions)}, seed {self.seed}, by {by})"
        )
        if self.target_column:
            line += f"; target {self.target_column!r}: {self.task}"
            if self.task_note:
                line += f" ({self.task_note})"
            if self.missing_target_rows:
                line += f"; {self.missing_target_rows} row(s) with a missing target left out"
        return line


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


def check_data_format(data_format: str) -> str:
    """`data_format` lower-cased if it is csv, jsonl or parquet, else SpecError."""
    value = str(data_format).strip().lower()
    if value not in shards.DATA_FORMATS:
        raise SpecError("data_format", data_format, f"must be one of {', '.join(FORMATS)}")
    return value


def check_task_and_metric(task: str, primary_metric: str, metric_goal: str) -> None:
    """The checks that need no data: a known task, and a metric of it when both are given."""
    tasks.check_task(task)
    if metric_goal and metric_goal not in tasks.GOALS:
        raise SpecError("metric_goal", metric_goal, f"must be one of {', '.join(tasks.GOALS)}")
    if primary_metric and task != tasks.AUTO:
        tasks.check_metric(task, primary_metric, metric_goal or None)


def split_dataset(
    source: str,
    train_dir: str,
    validation_dir: str,
    test_dir: str,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    key_column: str | None = None,
    file_format: str = "auto",
    target_column: str = "",
    task: str = "auto",
    primary_metric: str = "",
    metric_goal: str = "",
    data_format: str = "csv",
    shard_bytes: int = SHARD_BYTES,
    shard_rows: int | None = None,
) -> SplitSummary:
    """Split `source` into three split directories of shards, streaming.

    Args:
        source: A local path or `gs://` URI of a file or a wildcard (files read sorted), a
            BigQuery table `bq://project.dataset.table`, or a query (see `bigquery_source`).
        train_dir: Output directory of the train split (`training-*` shards).
        validation_dir: Output directory of the validation split (`validation-*`).
        test_dir: Output directory of the test split (`test-*`).
        fractions: (train, validation, test), each in [0, 1], summing to 1, train > 0.
            A split with fraction 0 gets one shard with no rows.
        seed: Seed of the split hash.
        key_column: Hash this column's values instead of the row position, so that a row
            keeps its split however the data grows or is reordered (equal keys share a split).
        file_format: "auto" (from the extension), "csv", "parquet" or "jsonl".
        target_column: The label column: rows with a missing label go to no split, and the
            task is detected from (or checked against) its values.
        task: auto | binary | multiclass | regression.
        primary_metric: Checked against the task (with `metric_goal`) before the function
            returns; a mismatch raises SpecError naming the task's metrics.
        metric_goal: maximize | minimize, or "" to leave unchecked.
        data_format: Format of the shards: csv | jsonl | parquet.
        shard_bytes: About this many bytes of data per shard.
        shard_rows: At most this many rows per shard (None: no limit).

    Returns:
        A SplitSummary.

    Raises:
        DataError: missing files, empty data, unknown columns, values that do not fit the task.
        SpecError: a bad task, metric, goal or data format.
    """
    from vtp.components.data import bigquery_source

    fractions = check_fractions(fractions)
    file_format = normalize_format(file_format)
    data_format = check_data_format(data_format)
    check_task_and_metric(task, primary_metric, metric_goal)
    key_column = key_column or None
    outs = [to_local_path(str(p)) for p in (train_dir, validation_dir, test_dir)]
    with new_temp_dir(outs[0]) as scratch:
        if bigquery_source.is_bigquery(source):
            files, fmt = bigquery_source.export(source, scratch), "parquet"
            source_format, names = "bigquery", [source]
        else:
            found = list_sources(source)
            fmt = resolve_format(found, file_format)
            engine.configure(fmt)
            files = fetch_to_disk(found, scratch)
            source_format, names = fmt, [f.name for f in found]
        job = _SplitJob(
            files=files,
            fmt=fmt,
            outs=outs,
            fractions=fractions,
            seed=int(seed),
            key_column=key_column,
            target_column=target_column,
            data_format=data_format,
            shard_bytes=int(shard_bytes),
            shard_rows=shard_rows,
        )
        try:
            counts, target, schema, written = job.run()
            decision = (
                decide_task(target, task) if target is not None else TaskDecision("", None, "")
            )
            if decision.task and primary_metric:
                tasks.check_metric(decision.task, primary_metric, metric_goal or None)
        except BaseException:
            for out in outs:
                shutil.rmtree(out, ignore_errors=True)
            raise
    return SplitSummary(
        source=source,
        files=names,
        source_format=source_format,
        row_counts=dict(zip(SPLITS, counts["splits"], strict=True)),
        total_rows=counts["rows"],
        schema=schema,
        fractions=fractions,
        seed=int(seed),
        key_column=key_column,
        data_format=data_format,
        shards=written,
        target_column=target_column,
        task=decision.task if target is not None else (task if task != tasks.AUTO else ""),
        classes=_plain(decision.classes),
        missing_target_rows=target.missing_rows if target is not None else 0,
        task_note=decision.note,
    )


@dataclass
class _SplitJob:
    files: list[SourceFile]
    fmt: str
    outs: list[str]
    fractions: tuple[float, float, float]
    seed: int
    key_column: str | None
    target_column: str
    data_format: str
    shard_bytes: int
    shard_rows: int | None = None

    def run(self) -> tuple[dict[str, Any], TargetSummary | None, list[dict[str, str]], dict]:
        """One pass; CSV / JSON Lines types inferred from every row when the first rows'
        types do not fit later rows."""
        from vtp.components.data.scan import INFER_ROWS

        try:
            return self._run(INFER_ROWS)
        except _TypesChanged:
            return self._run(None)

    def _run(self, infer_rows: int | None):
        import polars as pl

        for out in self.outs:
            _empty_dir(out)
        source = self._scan(infer_rows)
        schema = self._schema(source, infer_rows)
        target = self.target_column
        frame = source.with_row_index(_ROW)
        split = self._split_expr(schema)
        tracker = None
        if target:
            value = pl.col(target)
            if kind_of(schema[target]) == FLOAT:
                value = value.fill_nan(None)
            tracker = ClassTracker(floats=kind_of(schema[target]) == FLOAT)
            frame = frame.with_columns(
                value.map_batches(tracker.observe, return_dtype=schema[target], is_elementwise=True)
            )
            split = (
                pl.when(pl.col(target).is_null()).then(pl.lit(MISSING, pl.UInt8)).otherwise(split)
            )
        counter = SplitCounter()
        frame = frame.with_columns(
            split.map_batches(counter.observe, return_dtype=pl.UInt8, is_elementwise=True).alias(
                _SPLIT
            )
        )
        rows = frame.filter(pl.col(_SPLIT) != MISSING).select([*schema, _SPLIT])
        try:
            self._sink(rows).collect(engine="streaming")
        except pl.exceptions.PolarsError as exc:
            raise self._read_error(exc, infer_rows) from None
        if counter.rows == 0:
            raise DataError(
                f"source has no data rows: read {len(self.files)} file(s) ("
                + ", ".join(f.name for f in self.files[:5])
                + (", ..." if len(self.files) > 5 else "")
                + ")"
            )
        written = {}
        empty = pl.DataFrame(schema=schema)
        for k, out in enumerate(self.outs):
            prefix = shards.PREFIXES[SPLITS[k]]
            names = shards.finish_shards(out, prefix, self.data_format)
            if not names:
                names = [shards.shard_name(prefix, 0, 1, self.data_format)]
                _write_frame(empty, os.path.join(out, names[0]), self.data_format)
            written[SPLITS[k]] = names
        counts = {"rows": counter.rows, "splits": counter.counts[:3]}
        summary = None
        if target:
            summary = TargetSummary(
                column=target,
                kind=kind_of(schema[target]),
                present_rows=counter.rows - counter.counts[MISSING],
                missing_rows=counter.counts[MISSING],
                classes=tracker.classes(),
                whole_numbers=tracker.whole,
            )
        return counts, summary, _schema_names(schema), written

    def _scan(self, infer_rows: int | None) -> pl.LazyFrame:
        import polars as pl

        from vtp.components.data.scan import scan_files

        try:
            return scan_files(self.files, self.fmt, infer_rows=infer_rows)
        except pl.exceptions.PolarsError as exc:
            raise self._read_error(exc, infer_rows) from None

    def _schema(self, frame: pl.LazyFrame, infer_rows: int | None) -> pl.Schema:
        import polars as pl

        try:
            schema = frame.collect_schema()
        except pl.exceptions.PolarsError as exc:
            raise self._read_error(exc, infer_rows) from None
        names = list(schema)
        for role, column in (
            ("key_column", self.key_column),
            ("target_column", self.target_column),
        ):
            if column and column not in schema:
                raise DataError(
                    f"{role} {column!r} is not a column of the source; columns: {names}"
                )
        clash = [n for n in names if n in (_ROW, _SPLIT)]
        if clash:
            raise DataError(f"the source has columns reserved by vtp: {clash}")
        return schema

    def _split_expr(self, schema: pl.Schema) -> pl.Expr:
        import polars as pl

        if self.key_column is None:
            x = pl.col(_ROW).cast(pl.UInt64)
        else:
            try:
                x = key_hash_expr(self.key_column, schema[self.key_column])
            except ValueError:
                raise DataError(
                    f"key_column {self.key_column!r} must hold integers, text, booleans or dates "
                    f"(values whose text form is exact), got type {schema[self.key_column]}"
                ) from None
        return split_id_expr(x, self.seed, self.fractions)

    def _sink(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """One sink for the three splits, partitioned by the split id: each split's shards go
        to its own directory. (One sink, not three filtered ones: three consumers of a source
        with a row index make Polars buffer rows, and memory grows with the input.)"""
        import polars as pl

        fmt = self.data_format

        def path(args: Any) -> str:
            k = int(args.partition_keys[_SPLIT][0])
            prefix = shards.PREFIXES[SPLITS[k]]
            return os.path.join(
                self.outs[k], shards.partial_name(prefix, args.index_in_partition, fmt)
            )

        target = pl.PartitionBy(
            os.path.commonpath([os.path.abspath(o) for o in self.outs]),
            file_path_provider=path,
            key=_SPLIT,
            include_key=False,
            approximate_bytes_per_file=self.shard_bytes,
            max_rows_per_file=self.shard_rows,
        )
        if fmt == "parquet":
            return frame.sink_parquet(target, compression=PARQUET_COMPRESSION, lazy=True)
        if fmt == "csv":
            return frame.sink_csv(target, lazy=True)
        return frame.sink_ndjson(target, lazy=True)

    def _read_error(self, exc: Exception, infer_rows: int | None) -> Exception:
        text = str(exc)
        retry = infer_rows is not None and self.fmt in ("csv", "jsonl")
        if retry and any(s in text.lower() for s in _TYPE_ERRORS):
            return _TypesChanged()
        if isinstance(exc, DataError):
            return exc
        names = ", ".join(repr(f.name) for f in self.files[:3])
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return DataError(f"cannot read {names} as {self.fmt}: {first}")


#: Polars error texts that mean "the types inferred from the first rows do not fit".
_TYPE_ERRORS = ("could not parse", "cannot parse", "schema", "extra field", "conversion", "found")


class _TypesChanged(Exception):
    """Types inferred from the first rows do not fit later rows (internal signal)."""


def _empty_dir(path: str) -> None:
    """`path` as an empty directory (a failed first attempt may still be closing its files)."""
    for _ in range(50):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
        if not os.listdir(path):
            return
        time.sleep(0.1)
    raise DataError(f"cannot empty the output directory {path!r}")


def _write_frame(frame: pl.DataFrame, path: str, data_format: str) -> None:
    if data_format == "parquet":
        frame.write_parquet(path, compression=PARQUET_COMPRESSION)
    elif data_format == "csv":
        frame.write_csv(path)
    else:
        frame.write_ndjson(path)


def _schema_names(schema: pl.Schema) -> list[dict[str, str]]:
    """`{"name", "type"}` per column, with the Arrow name of the common types."""
    return [{"name": name, "type": type_name(kind)} for name, kind in schema.items()]


def _plain(classes: list[Any] | None) -> list[Any] | None:
    """Classes as JSON values: whole floats as ints."""
    if classes is None:
        return None
    return [int(c) if isinstance(c, float) and c.is_integer() else c for c in classes]
