"""BigQuery as a source: a table `bq://project.dataset.table` or a query, read with
google-cloud-bigquery and streamed into local Parquet files that the split then scans.

How a source is told apart:
- `bq://project.dataset.table` is a table (read whole: tabledata.list, or the Storage Read API);
- `bq-query:<SQL>`, or text that starts with `SELECT` or `WITH` (any case), is a query, run
  as a query job in the project of `$VTP_BIGQUERY_PROJECT`, else `$GOOGLE_CLOUD_PROJECT`, else
  the credentials' default project;
- anything else is a file path or `gs://` URI.

Rows arrive as Arrow record batches, page by page (the Storage Read API when the
`google-cloud-bigquery-storage` package is installed and no custom endpoint is set; else the
REST API), and each batch is appended to a Parquet file: memory stays bounded by a page.

`VTP_BIGQUERY_ENDPOINT=http://127.0.0.1:PORT` points the client at a loopback stand-in of the
BigQuery REST API with anonymous credentials (the tests' `tests/standins/bigquery.py`); no
call then reaches Google.
"""

from __future__ import annotations

import os
import re
from typing import Any

from vtp.components.data.sources import SourceFile
from vtp.errors import DataError

ENDPOINT_ENV = "VTP_BIGQUERY_ENDPOINT"
PROJECT_ENV = "VTP_BIGQUERY_PROJECT"
TABLE_PREFIX = "bq://"
QUERY_PREFIX = "bq-query:"
#: The project of query jobs against a custom endpoint when no project is configured.
LOOPBACK_PROJECT = "vtp-local"
_TABLE = re.compile(r"^([a-z][a-z0-9.:-]{4,61}[a-z0-9])\.([A-Za-z0-9_]{1,1024})\.([^.\s]{1,1024})$")
_QUERY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
#: BigQuery column types with no Parquet (or CSV) equivalent, and what to do instead.
UNSUPPORTED_TYPES = {
    "INTERVAL": "cast it to STRING or compute a number in a query",
    "RANGE": "select its start and end as two columns in a query",
    "BIGNUMERIC": "cast it to NUMERIC, FLOAT64 or STRING in a query",
    "BIGDECIMAL": "cast it to NUMERIC, FLOAT64 or STRING in a query",
    "RECORD": "select its fields as columns in a query",
    "STRUCT": "select its fields as columns in a query",
}
#: Rows per page requested from the REST API.
PAGE_ROWS = 50_000


def is_bigquery(source: str) -> bool:
    """Whether `source` names a BigQuery table or query."""
    text = str(source)
    return text.startswith((TABLE_PREFIX, QUERY_PREFIX)) or bool(_QUERY_START.match(text))


def parse(source: str) -> tuple[str, str]:
    """("table", "project.dataset.table") or ("query", sql).

    Raises:
        DataError: a `bq://` URI that is not `bq://project.dataset.table`, or an empty query.
    """
    text = str(source)
    if text.startswith(TABLE_PREFIX):
        table = text[len(TABLE_PREFIX) :].strip("/")
        if not _TABLE.match(table):
            raise DataError(
                f"source {source!r} must be bq://project.dataset.table (a BigQuery table), or a "
                f"query as {QUERY_PREFIX}SELECT ..."
            )
        return "table", table
    sql = text[len(QUERY_PREFIX) :] if text.startswith(QUERY_PREFIX) else text
    if not sql.strip():
        raise DataError(f"source {source!r}: the query after {QUERY_PREFIX!r} is empty")
    return "query", sql.strip()


def client() -> Any:
    """A BigQuery client: the loopback endpoint of `$VTP_BIGQUERY_ENDPOINT` with anonymous
    credentials, else Google's with the application default credentials."""
    from google.cloud import bigquery

    endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
    project = os.environ.get(PROJECT_ENV) or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
    if endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=project or LOOPBACK_PROJECT,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=endpoint),
        )
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return bigquery.Client(project=project)
    except DefaultCredentialsError as exc:
        raise DataError(
            f"cannot read from BigQuery: no credentials ({exc}); set {ENDPOINT_ENV} to use a "
            "loopback stand-in"
        ) from None


def export(source: str, directory: str) -> list[SourceFile]:
    """Reads the table or query result into `directory`/bigquery.parquet, page by page.

    Raises:
        DataError: unknown table, failed query, empty result, or a column type with no
            Parquet equivalent.
    """
    from google.api_core import exceptions as api

    kind, what = parse(source)
    bq = client()
    try:
        if kind == "table":
            table = bq.get_table(what)
            check_schema(table.schema, source)
            rows = bq.list_rows(table, page_size=PAGE_ROWS)
        else:
            rows = bq.query(what).result(page_size=PAGE_ROWS)
            check_schema(rows.schema, source)
        path = os.path.join(directory, "bigquery.parquet")
        count = _write_parquet(rows, path, _storage_client(bq))
    except api.NotFound as exc:
        raise DataError(f"BigQuery {kind} {what!r}: not found ({_message(exc)})") from None
    except api.GoogleAPICallError as exc:
        raise DataError(f"BigQuery {kind} {what!r} failed: {_message(exc)}") from None
    if count == 0:
        raise DataError(f"BigQuery {kind} {what!r} returned no rows: there is nothing to split")
    return [SourceFile(source, os.path.getsize(path), path)]


def check_schema(schema: list[Any], source: str) -> None:
    """DataError naming the first column whose type has no Parquet equivalent."""
    for field in schema:
        kind = str(field.field_type).upper()
        if kind in UNSUPPORTED_TYPES or field.mode == "REPEATED":
            what = "REPEATED " + kind if field.mode == "REPEATED" else kind
            hint = UNSUPPORTED_TYPES.get(kind, "aggregate or unnest it in a query")
            raise DataError(
                f"BigQuery source {source!r}: column {field.name!r} has type {what}, which has "
                f"no equivalent in the split files (Parquet / CSV columns); {hint}"
            )


def _storage_client(bq: Any) -> Any:
    """A Storage Read API client where the package is installed and Google is the endpoint."""
    if os.environ.get(ENDPOINT_ENV, "").strip():
        return None
    try:
        from google.cloud import bigquery_storage  # noqa: F401
    except ImportError:
        return None
    return bq._ensure_bqstorage_client()


def _write_parquet(rows: Any, path: str, storage: Any) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 0
    writer = None
    try:
        for batch in rows.to_arrow_iterable(bqstorage_client=storage):
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
            count += batch.num_rows
        if writer is None:  # no page at all: an empty file with the schema
            from google.cloud.bigquery import _pandas_helpers

            schema = _pandas_helpers.bq_to_arrow_schema(rows.schema) or pa.schema([])
            writer = pq.ParquetWriter(path, schema)
    finally:
        if writer is not None:
            writer.close()
    return count


def _message(exc: Any) -> str:
    """BigQuery's own message of a failed call (without the URL the client prefixes)."""
    errors = getattr(exc, "errors", None) or []
    if errors and isinstance(errors[0], dict) and errors[0].get("message"):
        return str(errors[0]["message"]).splitlines()[0]
    message = getattr(exc, "message", "") or str(exc)
    return str(message).splitlines()[0]
