"""BigQuery as a load_dataset source, read with google-cloud-bigquery against the loopback
stand-in of the BigQuery REST API (`tests/standins/bigquery.py`). Nothing reaches Google."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from standins.bigquery import BigQueryStandIn
from support.cli import run_vtp

from vtp.components.data import bigquery_source
from vtp.components.data.split_reader import read_split
from vtp.components.data.splitting import SPLITS, split_dataset
from vtp.errors import DataError

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def bigquery(monkeypatch, tmp_path):
    """The stand-in serving `vtp-local.samples.{wine,cancer,odd}`, and the client pointed at
    it through `VTP_BIGQUERY_ENDPOINT`."""
    monkeypatch.delenv(bigquery_source.PROJECT_ENV, raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with BigQueryStandIn("vtp-local") as standin:
        standin.add_table("vtp-local.samples.wine", DATA / "wine.csv")
        parquet = tmp_path / "cancer.parquet"
        pl.read_csv(DATA / "breast_cancer.csv").write_parquet(parquet)
        standin.add_table("vtp-local.samples.cancer", parquet)
        standin.add_table("vtp-local.samples.odd", DATA / "wine.csv", types={"ash": "INTERVAL"})
        monkeypatch.setenv(bigquery_source.ENDPOINT_ENV, standin.endpoint)
        yield standin


def split(source: str, out: Path, **kwargs):
    dirs = [out / s for s in SPLITS]
    summary = split_dataset(source, *map(str, dirs), **kwargs)
    return summary, {s: read_split(str(d)) for s, d in zip(SPLITS, dirs, strict=True)}


def test_sources_are_told_apart():
    assert bigquery_source.parse("bq://my-project.ds.t") == ("table", "my-project.ds.t")
    assert bigquery_source.parse("bq-query:SELECT 1") == ("query", "SELECT 1")
    assert bigquery_source.parse("  with x as (select 1) select * from x")[0] == "query"
    for text in (
        "bq://my-project.ds.t",
        "bq-query:x",
        "Select a from b",
        "WITH a AS (SELECT 1) ...",
    ):
        assert bigquery_source.is_bigquery(text)
    for text in ("data/select.csv", "gs://b/with/x.csv", "selected.csv"):
        assert not bigquery_source.is_bigquery(text)
    with pytest.raises(DataError, match=r"must be bq://project\.dataset\.table"):
        bigquery_source.parse("bq://just-a-table")
    with pytest.raises(DataError, match="the query after 'bq-query:' is empty"):
        bigquery_source.parse("bq-query:  ")


def test_table_is_split_like_the_same_rows_from_a_file(bigquery, tmp_path):
    summary, frames = split("bq://vtp-local.samples.wine", tmp_path / "bq", target_column="target")
    _, from_file = split(str(DATA / "wine.csv"), tmp_path / "csv", target_column="target")
    assert summary.source_format == "bigquery" and summary.files == ["bq://vtp-local.samples.wine"]
    assert summary.task == "multiclass" and summary.classes == [0, 1, 2]
    for s in SPLITS:
        assert frames[s].equals(from_file[s])  # same rows, same split, same types
    assert ("GET", "/bigquery/v2/projects/vtp-local/datasets/samples/tables/wine/data") in (
        bigquery.requests
    )
    meta = summary.to_metadata("train", "gs://b/r/train")
    assert meta["source_format"] == "bigquery" and meta["data_uri"] == "gs://b/r/train/training-*"


def test_query_results_are_split_with_their_schema(bigquery, tmp_path):
    sql = "SELECT id, mean_radius, target FROM `vtp-local.samples.cancer` WHERE id < 400"
    summary, frames = split(f"bq-query:{sql}", tmp_path / "a", target_column="target",
                            data_format="parquet")  # fmt: skip
    assert summary.total_rows == 400 and summary.task == "binary"
    assert [c["name"] for c in summary.schema] == ["id", "mean_radius", "target"]
    assert frames["train"].schema == {"id": pl.Int64, "mean_radius": pl.Float64, "target": pl.Int64}
    assert ("POST", "/bigquery/v2/projects/vtp-local/jobs") in bigquery.requests
    plain, _ = split("select id, target from samples.wine", tmp_path / "b", target_column="target")
    assert plain.total_rows == 178  # bare SELECT text, default project


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("bq://vtp-local.samples.nope", r"BigQuery table 'vtp-local\.samples\.nope': not found"),
        ("bq://vtp-local.other.t", r"not found \(Not found: Dataset vtp-local:other\)"),
        ("bq-query:SELECT * FROM samples.missing", "not found.*samples.missing"),
        ("bq-query:SELECT nope FROM samples.wine", r"failed: .*invalid query.*nope"),
        ("bq-query:SELECT * FROM samples.wine WHERE id < 0", "returned no rows"),
        ("bq://vtp-local.samples.odd", "column 'ash' has type INTERVAL, which has no equivalent"),
    ],
)
def test_bad_bigquery_sources_get_clear_errors(bigquery, tmp_path, source, message):
    with pytest.raises(DataError, match=message):
        split(source, tmp_path / "o", target_column="target")
    assert not (tmp_path / "o" / "train").exists()


def test_without_an_endpoint_or_credentials_the_error_says_how_to_point_elsewhere(
    monkeypatch, tmp_path
):
    monkeypatch.delenv(bigquery_source.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    with pytest.raises(DataError, match="VTP_BIGQUERY_ENDPOINT"):
        split("bq://my-project.d.t", tmp_path / "o")


@pytest.mark.slow
@pytest.mark.xdist_group("e2e-pass")
def test_vtp_run_training_locally_from_a_bigquery_table(bigquery, tmp_path):
    """`vtp run training --local --param data_source=bq://...` end to end: the component's
    process reaches the stand-in through VTP_BIGQUERY_ENDPOINT."""
    home = tmp_path / "home"
    proc = run_vtp(
        "run", "training", "--local", "--param",
        "data_source=bq://vtp-local.samples.cancer", home=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   load-dataset" in proc.stderr and "ok   model-upload" in proc.stderr
    record = json.loads(next((home / "runs").glob("training-*/run.json")).read_text())
    train = record["tasks"]["load-dataset"]["outputs"]["train"]
    assert train["metadata"]["source_format"] == "bigquery"
    assert train["metadata"]["source"] == "bq://vtp-local.samples.cancer"
    assert sum(r["rows"] for r in (
        record["tasks"]["load-dataset"]["outputs"][s]["metadata"] for s in SPLITS
    )) == 569  # fmt: skip
    assert any(p.endswith("/tables/cancer/data") for _, p in bigquery.requests)
