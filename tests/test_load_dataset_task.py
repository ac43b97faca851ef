"""load_dataset's data semantics: task detection, missing values, keyless splits, shards,
metric checks, merging and reading splits back (real files, the shipped data sets)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vtp.components.data.concat import concat_splits
from vtp.components.data.split_reader import read_split, read_split_pandas, split_files
from vtp.components.data.splitting import SPLITS, split_dataset
from vtp.components.data.target import MAX_AUTO_INTEGER_CLASSES
from vtp.errors import DataError, SpecError

DATA = Path(__file__).resolve().parent.parent / "data"
PREFIX = {"train": "training", "validation": "validation", "test": "test"}


def run(source, out: Path, **kwargs):
    dirs = [out / s for s in SPLITS]
    summary = split_dataset(str(source), *map(str, dirs), **kwargs)
    return summary, {s: read_split(str(d)) for s, d in zip(SPLITS, dirs, strict=True)}


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- task detection on the shipped data sets -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "task", "classes"),
    [("breast_cancer", "binary", [0, 1]), ("wine", "multiclass", [0, 1, 2]),
     ("diabetes", "regression", None)],
)  # fmt: skip
def test_shipped_data_sets_are_detected(tmp_path, name, task, classes):
    summary, frames = run(DATA / f"{name}.csv", tmp_path, target_column="target")
    assert summary.task == task and summary.classes == classes
    assert sum(len(f) for f in frames.values()) == summary.total_rows
    meta = summary.to_metadata("train", "gs://b/run/train")
    assert meta["task"] == task and meta["data_uri"] == "gs://b/run/train/training-*"
    assert ("classes" in meta) == (classes is not None)
    if name == "diabetes":  # 214 distinct whole numbers: more than the auto class limit
        assert "more than 20" in summary.task_note


def test_regression_detected_from_floats_and_classes_from_text(tmp_path):
    rows = "".join(f"{i},{i * 0.37:.2f},{'yes' if i % 3 else 'no'}\n" for i in range(300))
    src = write_csv(tmp_path / "d.csv", "id,price,answer\n" + rows)
    assert run(src, tmp_path / "a", target_column="price")[0].task == "regression"
    summary, _ = run(src, tmp_path / "b", target_column="answer")
    assert summary.task == "binary" and summary.classes == ["no", "yes"]
    whole = write_csv(tmp_path / "w.csv", "x,y\n" + "".join(f"{i},{i % 4}.0\n" for i in range(99)))
    summary, _ = run(whole, tmp_path / "c", target_column="y")  # 0.0 .. 3.0: classes
    assert summary.task == "multiclass" and summary.classes == [0, 1, 2, 3]
    many = MAX_AUTO_INTEGER_CLASSES + 1
    ints = write_csv(tmp_path / "i.csv", "x,y\n" + "".join(f"{i},{i % many}\n" for i in range(99)))
    assert run(ints, tmp_path / "d", target_column="y")[0].task == "regression"
    summary, _ = run(ints, tmp_path / "e", target_column="y", task="multiclass")
    assert summary.task == "multiclass" and len(summary.classes) == many


def test_a_given_task_is_checked_against_the_values(tmp_path):
    wine = DATA / "wine.csv"
    with pytest.raises(
        DataError, match=r"task binary needs exactly 2 classes; .* has 3: \[0, 1, 2\]"
    ):
        run(wine, tmp_path / "a", target_column="target", task="binary")
    assert not (tmp_path / "a" / "train").exists(), "a refused split leaves no output"
    floats = write_csv(tmp_path / "f.csv", "x,y\n" + "".join(f"{i},{i / 7}\n" for i in range(50)))
    with pytest.raises(DataError, match="floats that are not whole numbers; use task regression"):
        run(floats, tmp_path / "b", target_column="y", task="multiclass")
    text = write_csv(tmp_path / "t.csv", "x,y\n1,a\n2,b\n")
    with pytest.raises(DataError, match="task regression needs a numeric"):
        run(text, tmp_path / "c", target_column="y", task="regression")
    one = write_csv(tmp_path / "o.csv", "x,y\n1,a\n2,a\n")
    with pytest.raises(DataError, match=r"has a single value \['a'\]: there is nothing to learn"):
        run(one, tmp_path / "d", target_column="y")
    with pytest.raises(SpecError, match="task"):
        run(wine, tmp_path / "e", target_column="target", task="ranking")


def test_metric_that_does_not_fit_the_task_is_refused_naming_the_allowed_ones(tmp_path):
    wine = DATA / "wine.csv"
    # detected multiclass: checked after reading, before anything is handed to training
    with pytest.raises(SpecError, match="must be a multiclass metric: one of accuracy, f1_macro"):
        run(wine, tmp_path / "a", target_column="target", primary_metric="auc")
    assert not (tmp_path / "a" / "train").exists()
    # task given: checked before reading anything
    with pytest.raises(SpecError, match="must be a regression metric: one of rmse, mae, r2"):
        run(tmp_path / "missing.csv", tmp_path / "b", target_column="target", task="regression",
            primary_metric="auc")  # fmt: skip
    with pytest.raises(SpecError, match="metric_goal.*must be 'minimize' for rmse"):
        run(DATA / "diabetes.csv", tmp_path / "c", target_column="target", primary_metric="rmse",
            metric_goal="maximize")  # fmt: skip
    summary, _ = run(DATA / "diabetes.csv", tmp_path / "d", target_column="target",
                     primary_metric="rmse", metric_goal="minimize")  # fmt: skip
    assert summary.task == "regression"


# --- missing values ------------------------------------------------------------------------


@pytest.mark.parametrize("data_format", ["csv", "jsonl", "parquet"])
def test_missing_values_stay_null_and_missing_targets_are_left_out(tmp_path, data_format):
    lines = ["id,city,score,label"]
    for i in range(400):
        city = "" if i % 7 == 0 else f"c{i % 3}"
        score = "" if i % 11 == 0 else str(i / 4)
        label = "" if i % 10 == 0 else ("yes" if i % 2 else "no")
        lines.append(f"{i},{city},{score},{label}")
    src = write_csv(tmp_path / "d.csv", "\n".join(lines) + "\n")
    summary, frames = run(src, tmp_path / "o", target_column="label", data_format=data_format)
    assert summary.missing_target_rows == 40 and summary.total_rows == 400
    assert sum(summary.row_counts.values()) == 360
    assert summary.task == "binary" and summary.classes == ["no", "yes"]  # no '' class
    rows = pl.concat(list(frames.values())).sort("id")
    assert rows["label"].null_count() == 0 and len(rows) == 360
    assert set(rows["id"].to_list()) == {i for i in range(400) if i % 10}
    assert (
        rows.filter(pl.col("id") % 7 == 0)["city"].null_count()
        == rows.filter(pl.col("id") % 7 == 0).height
    )  # blank text cells are null, not ''
    assert "" not in rows["city"].drop_nulls().to_list()
    assert rows.filter(pl.col("id") == 11)["score"].item() is None
    meta = summary.to_metadata("test")
    assert meta["missing_target_rows"] == 40 and meta["data_format"] == data_format
    assert "40 row(s) with a missing target left out" in summary.describe()


def test_nan_targets_count_as_missing(tmp_path):
    table = pa.table(
        {"x": list(range(100)), "y": [float("nan") if i < 5 else i * 0.5 for i in range(100)]}
    )
    pq.write_table(table, tmp_path / "d.parquet")
    summary, _ = run(tmp_path / "d.parquet", tmp_path / "o", target_column="y")
    assert summary.missing_target_rows == 5 and summary.task == "regression"


# --- keyless split, key column errors -----------------------------------------------------


def test_keyless_split_keeps_rows_in_their_split_when_rows_are_appended(tmp_path):
    src = DATA / "wine.csv"
    base = src.read_text()
    summary, before = run(src, tmp_path / "before", target_column="target")
    assert summary.key_column is None and "by row position" in summary.describe()
    grown = write_csv(tmp_path / "grown.csv", base + base.split("\n", 1)[1])  # 178 more rows
    _, after = run(grown, tmp_path / "after", target_column="target")
    for s in SPLITS:
        kept = after[s].with_row_index("position")  # the first 178 rows are the old ones
        old_ids = sorted(before[s]["id"].to_list())
        assert sorted(kept["id"].to_list()[: len(old_ids)]) == old_ids
    assert sum(len(f) for f in after.values()) == 356


def test_missing_key_column_names_the_column_and_the_columns_that_exist(tmp_path):
    with pytest.raises(DataError, match=r"key_column 'user_id' is not a column of the source; "
                       r"columns: \['id', 'alcohol', .*'target'\]"):  # fmt: skip
        run(DATA / "wine.csv", tmp_path / "o", key_column="user_id")
    with pytest.raises(DataError, match=r"target_column 'label' is not a column"):
        run(DATA / "wine.csv", tmp_path / "o", target_column="label")
    floats = write_csv(tmp_path / "f.csv", "k,y\n0.5,1\n1.5,0\n")
    with pytest.raises(DataError, match="key_column 'k' must hold integers, text"):
        run(floats, tmp_path / "p", key_column="k")


# --- shards, formats and reading back -----------------------------------------------------


@pytest.mark.parametrize("data_format", ["csv", "jsonl", "parquet"])
def test_shards_are_named_as_vertex_names_them(tmp_path, data_format):
    summary, _ = run(DATA / "breast_cancer.csv", tmp_path, target_column="target",
                          data_format=data_format, shard_rows=100)  # fmt: skip
    for s in SPLITS:
        names = sorted(os.listdir(tmp_path / s))
        n = len(names)
        assert names == [f"{PREFIX[s]}-{i:05d}-of-{n:05d}.{data_format}" for i in range(n)]
        assert names == summary.shards[s]
        files, fmt = split_files(f"{tmp_path / s}/{PREFIX[s]}-*")  # the AIP_*_DATA_URI form
        assert fmt == data_format and len(files) == n
    assert len(summary.shards["train"]) > 1
    if data_format == "csv":
        for name in summary.shards["train"]:  # every CSV shard has its header row
            header = (tmp_path / "train" / name).read_text().split("\n", 1)[0]
            assert header.startswith("id,mean_radius,")
    assert read_split_pandas(str(tmp_path / "train")).shape == (summary.row_counts["train"], 32)


def test_reader_reads_the_old_single_parquet_layout(tmp_path):
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", None]}), tmp_path / "train.parquet")
    frame = read_split(str(tmp_path / "train.parquet"))
    assert frame.to_dict(as_series=False) == {"a": [1, 2], "b": ["x", None]}
    with pytest.raises(DataError, match="no such file"):
        read_split(str(tmp_path / "nothing"))


@pytest.mark.parametrize("data_format", ["csv", "jsonl", "parquet"])
def test_merge_of_train_and_validation_keeps_format_and_shard_names(tmp_path, data_format):
    summary, frames = run(DATA / "wine.csv", tmp_path / "s", target_column="target",
                          data_format=data_format)  # fmt: skip
    merged = concat_splits([str(tmp_path / "s" / "train"), str(tmp_path / "s" / "validation")],
                           str(tmp_path / "m"))  # fmt: skip
    assert merged.rows == summary.row_counts["train"] + summary.row_counts["validation"]
    assert merged.data_format == data_format
    assert merged.files == [f"training-00000-of-00001.{data_format}"]
    ids = read_split(str(tmp_path / "m"))["id"].to_list()
    assert ids == frames["train"]["id"].to_list() + frames["validation"]["id"].to_list()


def test_merge_component_reads_old_layout_and_refuses_other_columns(tmp_path):
    from kfp import dsl

    from vtp.components.data.merge import merge_datasets

    old = tmp_path / "old"
    old.mkdir()
    pq.write_table(pa.table({"a": [1, 2], "b": [0.5, 1.5]}), old / "train.parquet")
    run_dir = tmp_path / "new"
    run(write_csv(tmp_path / "d.csv", "b,a\n2.5,3\n"), run_dir, fractions=(1.0, 0.0, 0.0))
    first = dsl.Dataset(name="first", uri=str(old / "train.parquet"))
    second = dsl.Dataset(name="second", uri=str(run_dir / "train"))
    merged = dsl.Dataset(name="merged", uri=str(tmp_path / "merged"))
    assert merge_datasets.python_func(first=first, second=second, merged=merged) == 3
    assert merged.metadata["data_uri"] == str(tmp_path / "merged") + "/training-*"
    assert read_split(merged.path).sort("a")["a"].to_list() == [1, 2, 3]
    json.dumps(merged.metadata)
    write_csv(tmp_path / "other.csv", "c\n1\n")
    other = dsl.Dataset(name="o", uri=str(tmp_path / "other.csv"))
    with pytest.raises(DataError, match=r"its columns \['c'\] differ from \['a', 'b'\]"):
        merge_datasets.python_func(first=first, second=other, merged=merged)
