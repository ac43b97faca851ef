"""load_dataset: streaming split of CSV / Parquet / JSON Lines sources into split directories."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from standins.gcs import gcs_emulator

from vtp.components.data.split_reader import read_split
from vtp.components.data.splitting import SPLITS, SplitSummary, split_dataset
from vtp.errors import DataError

CITIES = np.array(["Lisbon", "Oslo", "Quito", "Accra", "Hanoi", "Lima"])


def make_table(n: int, start: int = 0) -> pa.Table:
    """Deterministic mixed-type rows with a unique `id`."""
    ids = np.arange(start, start + n, dtype=np.int64)
    return pa.table(
        {
            "id": ids,
            "amount": (ids % 997) * 0.25,
            "count": ids % 13,
            "city": pa.array(CITIES[ids % len(CITIES)]),
            "user": pa.array([f"u{i % 5000:05d}" for i in ids.tolist()]),
        }
    )


def write(table: pa.Table, path: Path, fmt: str, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        pa_csv.write_csv(table, path)
    elif fmt == "parquet":
        pq.write_table(table, path, **kwargs)
    else:
        with open(path, "w") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row) + "\n")
    return path


def split(source, out: Path, **kwargs) -> tuple[SplitSummary, dict[str, pa.Table]]:
    kwargs.setdefault("data_format", "parquet")
    dirs = [out / s for s in SPLITS]
    summary = split_dataset(str(source), *map(str, dirs), **kwargs)
    return summary, {s: read_split(str(d)).to_arrow() for s, d in zip(SPLITS, dirs, strict=True)}


def ids_of(tables: dict[str, pa.Table]) -> dict[str, list[int]]:
    return {s: t["id"].to_pylist() for s, t in tables.items()}


def assert_complete_split(tables, n, fractions=(0.8, 0.1, 0.1)):
    """Every id in exactly one split, sizes within 5 sigma (+2 rows) of the fractions."""
    ids = ids_of(tables)
    together = sorted(i for s in SPLITS for i in ids[s])
    assert together == list(range(n))
    for s, f in zip(SPLITS, fractions, strict=True):
        assert abs(len(ids[s]) - n * f) <= 5 * math.sqrt(n * f * (1 - f)) + 2, (s, len(ids[s]))


def same_columns(table: pa.Table, names: list[str]) -> pa.Table:
    """`table`'s columns `names` with Arrow's plain types (Polars reads large/view types)."""
    out = table.select(names)
    return pa.table({n: out[n].to_pylist() for n in names})


# --- formats and sizes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "n"),
    [("csv", 1_000), ("csv", 50_000), ("csv", 300_000), ("parquet", 1_000), ("parquet", 300_000),
     ("jsonl", 1_000), ("jsonl", 50_000)],
)  # fmt: skip
def test_split_is_complete_disjoint_and_proportional(tmp_path, fmt, n):
    table = make_table(n)
    src = write(table, tmp_path / f"data.{fmt}", fmt)
    summary, tables = split(src, tmp_path / "out")
    assert_complete_split(tables, n)
    assert summary.total_rows == n
    assert summary.row_counts == {s: tables[s].num_rows for s in SPLITS}
    assert summary.source_format == fmt and summary.files == [str(src)]
    assert [c["name"] for c in summary.schema] == table.column_names
    merged = pa.concat_tables(tables.values()).sort_by("id")
    cols = ["id", "amount", "count", "city"]
    assert same_columns(merged, cols).equals(same_columns(table, cols))


def test_compressed_csv_and_explicit_format(tmp_path):
    table = make_table(2_000)
    write(table, tmp_path / "plain.csv", "csv")
    gz = tmp_path / "data.csv.gz"
    gz.write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes()))
    _, from_gz = split(gz, tmp_path / "a")
    odd = tmp_path / "data.txt"
    odd.write_bytes((tmp_path / "plain.csv").read_bytes())
    summary, from_txt = split(odd, tmp_path / "b", file_format="csv")
    assert summary.source_format == "csv"
    assert ids_of(from_gz) == ids_of(from_txt)
    assert_complete_split(from_gz, 2_000)


# --- determinism ---------------------------------------------------------------------------


def test_same_split_across_runs_shard_sizes_and_formats(tmp_path):
    table = make_table(50_000)
    csv = write(table, tmp_path / "d.csv", "csv")
    _, base = split(csv, tmp_path / "r0")
    _, again = split(csv, tmp_path / "r1")
    summary, small_shards = split(csv, tmp_path / "r2", shard_rows=10_000, data_format="csv")
    assert len(summary.shards["train"]) >= 4
    pq_many = write(table, tmp_path / "many.parquet", "parquet", row_group_size=777)
    _, parquet = split(pq_many, tmp_path / "r3")
    jsonl = write(table, tmp_path / "d.jsonl", "jsonl")
    _, from_json = split(jsonl, tmp_path / "r4", data_format="jsonl")
    expected = ids_of(base)
    for other in (again, small_shards, parquet, from_json):
        assert ids_of(other) == expected
    _, other_seed = split(csv, tmp_path / "r5", seed=7)
    assert ids_of(other_seed) != expected


def test_split_hash_is_pinned():
    """The assignment is part of the contract: these values must never change (they are the
    values of every earlier vtp version too)."""
    import polars as pl

    from vtp.components.data.split_hash import key_hash_expr, split_id_expr, split_ids

    def by_index(first, seed, fractions):
        frame = pl.DataFrame({"i": np.arange(first, first + 24, dtype=np.uint64)})
        fast = frame.select(split_id_expr(pl.col("i"), seed, fractions)).to_series().to_list()
        reference = split_ids(np.arange(first, first + 24), seed, fractions).tolist()
        assert fast == reference
        return "".join(map(str, fast))

    assert by_index(0, 42, (0.8, 0.1, 0.1)) == "020202002200002102000020"
    assert by_index(1000, 7, (0.5, 0.25, 0.25)) == "000101000022011100020222"
    keys = pl.DataFrame({"k": [f"user-{i}" for i in range(24)]})
    by_key = keys.select(split_id_expr(key_hash_expr("k", pl.String), 42, (0.5, 0.25, 0.25)))
    assert "".join(map(str, by_key.to_series())) == "221102102100001000010221"

    def key_hashes(values, dtype=pl.String):
        frame = pl.DataFrame({"k": values}, schema={"k": dtype})
        return frame.select(key_hash_expr("k", dtype)).to_series().to_list()

    assert key_hashes(["", "a", "user-1", "é", None]) == [
        16294208416658607535, 8109953200212652859, 4212728202431832568,
        5345401715586126322, 7959387129361299745,
    ]  # fmt: skip
    assert key_hashes([1, 2], pl.Int64) == key_hashes(["1", "2"])
    assert key_hashes([True, None], pl.Boolean) == key_hashes(["true", None])


def test_key_column_keeps_rows_in_their_split_when_data_grows(tmp_path):
    src = write(make_table(20_000), tmp_path / "d.csv", "csv")
    _, before = split(src, tmp_path / "before", key_column="user")
    # append rows (users u00000..u04999 repeat, so most appended users are already known)
    more = write(make_table(6_000, start=20_000), tmp_path / "more.csv", "csv")
    with open(src, "a") as f:
        f.write("".join(more.read_text().splitlines(keepends=True)[1:]))
    summary, after = split(src, tmp_path / "after", key_column="user")
    assert summary.total_rows == 26_000 and summary.key_column == "user"
    old, new = ids_of(before), ids_of(after)
    for s in SPLITS:
        assert [i for i in new[s] if i < 20_000] == old[s]
    users = {s: set(after[s]["user"].to_pylist()) for s in SPLITS}  # a user is in one split
    assert not (users["train"] & users["validation"] or users["train"] & users["test"])
    assert not users["validation"] & users["test"]
    assert_complete_split(after, 26_000)


# --- fractions -----------------------------------------------------------------------------


@pytest.mark.parametrize("fractions", [(0.9, 0.1, 0.0), (1.0, 0.0, 0.0), (0.5, 0.0, 0.5)])
def test_zero_fraction_writes_an_empty_shard_with_schema(tmp_path, fractions):
    table = make_table(3_000)
    summary, tables = split(write(table, tmp_path / "d.parquet", "parquet"), tmp_path / "o",
                            fractions=fractions)  # fmt: skip
    assert_complete_split(tables, 3_000, fractions)
    for s, f in zip(SPLITS, fractions, strict=True):
        assert tables[s].schema.names == table.schema.names
        if f == 0:
            assert tables[s].num_rows == 0 == summary.row_counts[s]
            assert summary.shards[s] == [
                f"{ {'train': 'training'}.get(s, s) }-00000-of-00001.parquet"
            ]


# --- wildcards and type inference ----------------------------------------------------------


def test_wildcard_reads_files_in_sorted_order(tmp_path):
    table = make_table(9_000)
    for i, start in enumerate(range(0, 9_000, 3_000)):
        write(table.slice(start, 3_000), tmp_path / "parts" / f"part-{2 - i}.csv", "csv")
    write(table.slice(0, 10), tmp_path / "parts" / "other.parquet", "parquet")
    summary, tables = split(tmp_path / "parts" / "part-*.csv", tmp_path / "o")
    assert summary.files == [str(tmp_path / "parts" / f"part-{i}.csv") for i in range(3)]
    assert_complete_split(tables, 9_000)
    _, single = split(write(table, tmp_path / "whole.csv", "csv"), tmp_path / "w")
    assert ids_of(single) != ids_of(tables)  # row index follows the sorted file order


def test_csv_types_that_change_after_the_first_rows_are_widened(tmp_path):
    n = 20_000
    lines = ["id,score,late,label,flag"]
    for i in range(n):
        score = f"{i}.5" if i == n - 3 else str(i)  # int64 ... then a float
        late = "" if i < n // 2 else str(i)  # empty (null) first, ints later
        label = "x" if i == n - 1 else str(i % 10)  # digits ... then text
        flag = "" if i % 100 == 0 else str(i % 2)  # int with gaps: stays int64
        lines.append(f"{i},{score},{late},{label},{flag}")
    src = tmp_path / "drift.csv"
    src.write_text("\n".join(lines) + "\n")
    summary, tables = split(src, tmp_path / "o")
    assert {c["name"]: c["type"] for c in summary.schema} == {
        "id": "int64", "score": "double", "late": "int64", "label": "string", "flag": "int64",
    }  # fmt: skip
    merged = pa.concat_tables(tables.values()).sort_by("id")
    assert merged["score"][n - 3].as_py() == n - 3 + 0.5
    assert merged["late"][n - 1].as_py() == n - 1 and merged["late"][0].as_py() is None
    assert merged["label"][n - 1].as_py() == "x" and merged["label"][3].as_py() == "3"
    assert merged["flag"][0].as_py() is None and merged["flag"][1].as_py() == 1
    assert_complete_split(tables, n)


def test_jsonl_types_and_keys_that_appear_later_are_merged(tmp_path):
    rows = [{"id": i, "v": i} for i in range(5_000)]
    rows[-2] = {"id": 4_998, "v": 1.5}
    rows[-1] = {"id": 4_999, "v": 2, "extra": "late key"}
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary, tables = split(src, tmp_path / "o")
    assert {c["name"]: c["type"] for c in summary.schema} == {
        "id": "int64", "v": "double", "extra": "string",
    }  # fmt: skip
    merged = pa.concat_tables(tables.values()).sort_by("id")
    assert merged["extra"][4_999].as_py() == "late key" and merged["extra"][0].as_py() is None
    assert_complete_split(tables, 5_000)


def test_long_rows(tmp_path):
    table = make_table(3_000)
    long_text = pa.array(["x" * 9_000 if i == 1_500 else "short" for i in range(3_000)])
    table = table.set_column(3, "city", long_text)
    for fmt in ("csv", "jsonl"):
        _, tables = split(write(table, tmp_path / f"d.{fmt}", fmt), tmp_path / fmt)
        assert_complete_split(tables, 3_000)
        merged = pa.concat_tables(tables.values()).sort_by("id")
        assert len(merged["city"][1_500].as_py()) == 9_000


# --- bad input -----------------------------------------------------------------------------


def bad(tmp_path, source, match, **kwargs):
    out = tmp_path / "bad"
    with pytest.raises(DataError, match=match):
        split(source, out, **kwargs)
    assert not any(out.rglob("*-of-*")), "a failed split must not leave output files"


def test_bad_sources(tmp_path):
    bad(tmp_path, tmp_path / "nope.csv", r"source file '.*nope\.csv' does not exist")
    bad(tmp_path, tmp_path / "x" / "*.csv", r"wildcard '.*\*\.csv' matched no files")
    bad(tmp_path, tmp_path, r"is a directory")
    (tmp_path / "header.csv").write_text("id,amount\n")
    bad(tmp_path, tmp_path / "header.csv", "no data rows")
    (tmp_path / "empty.csv").write_text("")
    bad(tmp_path, tmp_path / "empty.csv", "no data rows")
    bad(tmp_path, write(make_table(0), tmp_path / "e.parquet", "parquet"), "no data rows")
    (tmp_path / "d.txt").write_text("id\n1\n")
    bad(tmp_path, tmp_path / "d.txt", r"cannot tell the format of '.*d\.txt'")
    bad(tmp_path, tmp_path / "d.txt", r"file_format must be 'auto' or one of .* got 'xml'",
        file_format="xml")  # fmt: skip
    write(make_table(10), tmp_path / "mix" / "a.csv", "csv")
    write(make_table(10), tmp_path / "mix" / "b.parquet", "parquet")
    bad(tmp_path, tmp_path / "mix" / "*", "mixes file formats")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    bad(
        tmp_path,
        tmp_path / "ragged.csv",
        r"cannot read '.*ragged\.csv' as csv: found more fields",
    )
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    bad(tmp_path, tmp_path / "junk.parquet", r"cannot read '.*junk\.parquet' as parquet")


def test_bad_fractions_and_key_column(tmp_path):
    src = write(make_table(100), tmp_path / "d.csv", "csv")
    bad(tmp_path, src, r"fractions must sum to 1 .* sum to 1\.1", fractions=(0.8, 0.2, 0.1))
    bad(tmp_path, src, r"test fraction must be in \[0, 1\], got -0\.1",
        fractions=(0.9, 0.2, -0.1))  # fmt: skip
    bad(tmp_path, src, r"train fraction must be > 0", fractions=(0.0, 0.5, 0.5))
    bad(tmp_path, src, "fractions must be three numbers", fractions=(0.5, 0.5))
    columns = r"\['id', 'amount', 'count', 'city', 'user'\]"
    bad(tmp_path, src, rf"key_column 'uid' is not a column of the source; columns: {columns}",
        key_column="uid")  # fmt: skip


def test_files_with_mismatching_schemas(tmp_path):
    write(make_table(100), tmp_path / "csv" / "a.csv", "csv")
    write(make_table(100).drop_columns(["city"]), tmp_path / "csv" / "b.csv", "csv")
    bad(tmp_path, tmp_path / "csv" / "*.csv", r"mismatching schemas: '.*b\.csv' has .*a\.csv")
    table = make_table(100)
    write(table, tmp_path / "pq" / "a.parquet", "parquet")
    write(table.set_column(0, "id", table["id"].cast(pa.string())), tmp_path / "pq" / "b.parquet",
          "parquet")  # fmt: skip
    bad(tmp_path, tmp_path / "pq" / "*.parquet", r"mismatching schemas: .*id: string")
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "a.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "j" / "b.jsonl").write_text('{"id": "one"}\n')
    bad(
        tmp_path,
        tmp_path / "j" / "*.jsonl",
        r"cannot read .*a\.jsonl.* as jsonl: cannot parse 'one'",
    )


# --- Cloud Storage -------------------------------------------------------------------------


def test_gcs_uri_through_the_mount(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_GCS_ROOT", str(tmp_path / "gcs"))
    table = make_table(4_000)
    write(table.slice(0, 2_000), tmp_path / "gcs" / "bkt" / "data" / "part-0.parquet", "parquet")
    write(table.slice(2_000), tmp_path / "gcs" / "bkt" / "data" / "part-1.parquet", "parquet")
    summary = split_dataset("gs://bkt/data/part-*.parquet", *(f"gs://bkt/out/{s}" for s in SPLITS))
    assert summary.files == ["gs://bkt/data/part-0.parquet", "gs://bkt/data/part-1.parquet"]
    assert (tmp_path / "gcs" / "bkt" / "out" / "test" / "test-00000-of-00001.csv").is_file()
    tables = {s: read_split(f"gs://bkt/out/{s}/{p}-*").to_arrow()
              for s, p in zip(SPLITS, ("training", "validation", "test"), strict=True)}  # fmt: skip
    assert_complete_split(tables, 4_000)
    bad(tmp_path, "gs://bkt/data/none-*.parquet", r"wildcard 'gs://bkt/data/none-\*\.parquet'")


@pytest.fixture
def gcs_bucket(monkeypatch):
    """A bucket in the real Cloud Storage emulator on loopback (`tests/standins/gcs.py`); no
    mount, so the API path is used."""
    if os.path.isdir("/gcs"):
        pytest.skip("/gcs is mounted here, so gs:// URIs would not use the API")
    monkeypatch.delenv("VTP_GCS_ROOT", raising=False)
    with gcs_emulator("vtp-emu") as gcs:
        yield gcs.client().bucket("vtp-emu")


def test_gcs_uri_through_the_storage_api(tmp_path, gcs_bucket):
    table = make_table(12_000)
    local = write(table, tmp_path / "all.csv", "csv")
    _, expected = split(local, tmp_path / "local")
    for i in range(3):
        part = write(table.slice(4_000 * i, 4_000), tmp_path / f"p{i}.csv", "csv")
        gcs_bucket.blob(f"raw/part-{i}.csv").upload_from_filename(str(part))
    gcs_bucket.blob("raw/nested/part-9.csv").upload_from_filename(str(part))  # not matched by *
    gcs_bucket.blob("raw/data.parquet").upload_from_filename(
        str(write(table, tmp_path / "d.parquet", "parquet", row_group_size=5_000))
    )
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(write(table, tmp_path / "d.jsonl", "jsonl").read_bytes()))
    gcs_bucket.blob("raw/data.jsonl.gz").upload_from_filename(str(gz))

    summary, from_parts = split("gs://vtp-emu/raw/part-*.csv", tmp_path / "a")
    assert summary.files == [f"gs://vtp-emu/raw/part-{i}.csv" for i in range(3)]
    assert ids_of(from_parts) == ids_of(expected)
    _, from_parquet = split("gs://vtp-emu/raw/data.parquet", tmp_path / "b")
    assert ids_of(from_parquet) == ids_of(expected)
    _, from_jsonl = split("gs://vtp-emu/raw/data.jsonl.gz", tmp_path / "c")
    assert ids_of(from_jsonl) == ids_of(expected)
    _, recursive = split("gs://vtp-emu/raw/**.csv", tmp_path / "d")
    assert sum(t.num_rows for t in recursive.values()) == 16_000
    bad(tmp_path, "gs://vtp-emu/raw/missing.csv", "source object 'gs://vtp-emu/raw/missing.csv'")
    bad(tmp_path, "gs://vtp-emu/raw/*.tsv", "matched no objects")
    bad(tmp_path, "gs://no-such-bucket/x.csv", "does not exist")


# --- the KFP component ---------------------------------------------------------------------


def test_component_python_func_writes_splits_and_metadata(tmp_path):
    from kfp import dsl

    from vtp.components.data import load_dataset

    src = write(make_table(5_000), tmp_path / "d.csv", "csv")
    arts = {s: dsl.Dataset(name=s, uri=str(tmp_path / "arts" / s)) for s in SPLITS}
    out = load_dataset.python_func(
        source=str(src), **arts, train_fraction=0.7, validation_fraction=0.2,
        test_fraction=0.1, seed=3, key_column="user", target_column="city",
        primary_metric="f1_macro", metric_goal="maximize",
    )  # fmt: skip
    assert out.row_count == 5_000 and out.task == "multiclass"
    tables = {s: read_split(arts[s].path).to_arrow() for s in SPLITS}
    assert_complete_split(tables, 5_000, (0.7, 0.2, 0.1))
    meta = arts["validation"].metadata
    assert meta["split"] == "validation" and meta["rows"] == tables["validation"].num_rows
    assert meta["data_format"] == "csv" and meta["fractions"] == [0.7, 0.2, 0.1]
    assert meta["data_uri"] == str(tmp_path / "arts" / "validation") + "/validation-*"
    assert meta["files"] == ["validation-00000-of-00001.csv"]
    assert meta["task"] == "multiclass" and meta["target_column"] == "city"
    assert meta["classes"] == sorted(CITIES.tolist()) and meta["missing_target_rows"] == 0
    assert meta["seed"] == 3 and meta["key_column"] == "user" and meta["source"] == str(src)
    assert meta["schema"][0] == {"name": "id", "type": "int64"}
    json.dumps(meta)  # metadata must be JSON


@pytest.mark.slow  # a kfp.local run
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task that uses custom")
def test_component_runs_through_kfp_local(tmp_path):
    from kfp import local

    from vtp.components.data import load_dataset

    src = write(make_table(2_000), tmp_path / "d.jsonl", "jsonl")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    task = load_dataset(source=str(src), train_fraction=0.6, validation_fraction=0.2,
                        test_fraction=0.2, data_format="jsonl")  # fmt: skip
    assert task.outputs["row_count"] == 2_000 and task.outputs["task"] == ""
    tables = {s: read_split(task.outputs[s].path).to_arrow() for s in SPLITS}
    assert_complete_split(tables, 2_000, (0.6, 0.2, 0.2))
    assert task.outputs["test"].metadata["rows"] == tables["test"].num_rows
    assert os.listdir(task.outputs["test"].path) == ["test-00000-of-00001.jsonl"]
