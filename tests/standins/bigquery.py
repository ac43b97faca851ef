"""A loopback stand-in of the BigQuery REST API (v2), for the paths google-cloud-bigquery uses
to read a table or a query's result.

Served (under `/bigquery/v2`):
- `GET projects/P/datasets/D/tables/T` (tables.get): the table resource, built with the
  client's own `bigquery.Table` / `SchemaField` types;
- `GET projects/P/datasets/D/tables/T/data` (tabledata.list): rows as `{"f": [{"v": ...}]}`
  with every value as BigQuery sends it (text; null as null), paged by `maxResults` /
  `pageToken`;
- `POST projects/P/jobs` (jobs.insert) of a query job: the body is decoded with
  `bigquery.QueryJobConfig.from_api_repr`; the query text runs at once, in Polars' SQL engine
  over the registered tables (table names in the text, with or without backticks, are mapped
  onto them); its result becomes an anonymous destination table;
- `GET projects/P/jobs/J` (jobs.get) and `GET projects/P/queries/J` (jobs.getQueryResults).

Refused as BigQuery refuses them: an unknown project, dataset, table or job (404 notFound);
a job without a query, legacy SQL, a query naming an unknown table (404) or one that does not
run (400 invalidQuery, also recorded as the job's `errorResult`); `maxResults` that is not a
non-negative number (400). Tables are served from local Parquet or CSV fixtures; a table may
declare column types of its own (e.g. INTERVAL) to test what vtp refuses.

Nothing here is BigQuery: its SQL dialect is Polars SQL's subset of it.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import polars as pl

_PREFIX = "/bigquery/v2/"
_TABLE_PATH = re.compile(r"^projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)(/data)?$")
_JOBS = re.compile(r"^projects/([^/]+)/jobs$")
_JOB = re.compile(r"^projects/([^/]+)/jobs/([^/]+)$")
_QUERY_RESULTS = re.compile(r"^projects/([^/]+)/queries/([^/]+)$")
_TABLE_REF = re.compile(r"`([^`]+)`|\b([A-Za-z][\w-]*\.[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\b")
DEFAULT_PAGE = 100


class BigQueryError(Exception):
    """An error answered as BigQuery answers: `{"error": {"code", "message", "errors": [..]}}`."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        status = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}.get(self.code, "UNKNOWN")
        error = {"reason": self.reason, "message": self.message, "domain": "global"}
        return {
            "error": {"code": self.code, "message": self.message, "errors": [error],
                      "status": status}
        }  # fmt: skip


@dataclass
class _Table:
    frame: pl.DataFrame
    types: dict[str, str]


@dataclass
class _Job:
    project: str
    job_id: str
    query: str
    table: _Table | None = None
    error: BigQueryError | None = None
    resource: dict[str, Any] = field(default_factory=dict)


class BigQueryStandIn:
    """The BigQuery REST API on loopback for the tables given to `add_table`.

    Use `endpoint` as `client_options.api_endpoint` (or `VTP_BIGQUERY_ENDPOINT`), with
    anonymous credentials. `requests` records `(method, path)` of every call.
    """

    def __init__(self, project: str = "vtp-local"):
        self.project = project
        self.tables: dict[str, _Table] = {}
        self.jobs: dict[str, _Job] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- fixtures ---------------------------------------------------------------------------

    def add_table(
        self, table_id: str, source: str | Path | pl.DataFrame, types: dict[str, str] | None = None
    ) -> None:
        """Serve `project.dataset.table` from a Parquet / CSV file or a DataFrame; `types`
        overrides BigQuery column types (values are then served as their text)."""
        if isinstance(source, pl.DataFrame):
            frame = source
        elif str(source).endswith(".parquet"):
            frame = pl.read_parquet(source)
        else:
            frame = pl.read_csv(source)
        kinds = {name: _bq_type(dtype) for name, dtype in frame.schema.items()}
        kinds.update(types or {})
        self.tables[table_id] = _Table(frame, kinds)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> BigQueryStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                standin._serve(self)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> BigQueryStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def client(self) -> Any:
        """A google-cloud-bigquery client pointed here."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.endpoint),
        )

    # --- dispatch ---------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        length = int(handler.headers.get("Content-Length") or 0)
        text = handler.rfile.read(length).decode() if length else ""
        with self.lock:
            self.requests.append((handler.command, path))
        try:
            if not path.startswith(_PREFIX):
                raise BigQueryError(404, "notFound", f"Not found: URL {path}")
            status, body = self._route(handler.command, path[len(_PREFIX) :], query, text)
        except BigQueryError as err:
            status, body = err.code, err.body()
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method: str, path: str, query: dict, text: str) -> tuple[int, Any]:
        if method == "GET" and (m := _TABLE_PATH.match(path)):
            table_id = ".".join(m.group(1, 2, 3))
            table = self._table(table_id)
            if m.group(4):
                return 200, self._rows(table, query)
            return 200, self._table_resource(table_id, table)
        if method == "POST" and (m := _JOBS.match(path)):
            return 200, self._insert_job(m.group(1), text)
        if method == "GET" and (m := _JOB.match(path)):
            return 200, self._job(m.group(1), m.group(2)).resource
        if method == "GET" and (m := _QUERY_RESULTS.match(path)):
            job = self._job(m.group(1), m.group(2))
            if job.error is not None:
                raise job.error
            page = self._rows(job.table, query)
            return 200, {
                "kind": "bigquery#getQueryResultsResponse",
                "jobReference": job.resource["jobReference"],
                "schema": self._schema(job.table),
                "jobComplete": True,
                "cacheHit": False,
                **page,
            }
        raise BigQueryError(404, "notFound", f"Not found: {method} {path} (not served here)")

    # --- tables -----------------------------------------------------------------------------

    def _table(self, table_id: str) -> _Table:
        project, dataset, _ = table_id.split(".")
        self._check_project(project)
        if not any(t.split(".")[:2] == [project, dataset] for t in self.tables):
            raise BigQueryError(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        if table_id not in self.tables:
            shown = table_id.replace(".", ":", 1)
            raise BigQueryError(404, "notFound", f"Not found: Table {shown}")
        return self.tables[table_id]

    def _check_project(self, project: str) -> None:
        if project != self.project and not any(t.startswith(project + ".") for t in self.tables):
            raise BigQueryError(404, "notFound", f"Not found: Project {project}")

    def _schema(self, table: _Table) -> dict[str, Any]:
        from google.cloud import bigquery

        fields = [
            bigquery.SchemaField(n, table.types[n], mode="NULLABLE") for n in table.frame.columns
        ]
        return {"fields": [f.to_api_repr() for f in fields]}

    def _table_resource(self, table_id: str, table: _Table) -> dict[str, Any]:
        from google.cloud import bigquery

        resource = bigquery.Table(table_id).to_api_repr()
        resource.update(
            kind="bigquery#table",
            id=table_id.replace(".", ":", 1),
            type="TABLE",
            location="US",
            schema=self._schema(table),
            numRows=str(table.frame.height),
        )
        return resource

    def _rows(self, table: _Table, query: dict) -> dict[str, Any]:
        def arg(name: str, default: int) -> int:
            values = query.get(name)
            if not values:
                return default
            if not values[-1].isdigit():
                raise BigQueryError(400, "invalid", f"Invalid value for {name}: {values[-1]}")
            return int(values[-1])

        start = arg("pageToken", arg("startIndex", 0))
        size = arg("maxResults", DEFAULT_PAGE)
        part = table.frame.slice(start, size)
        rows = [{"f": [{"v": _text(v)} for v in row]} for row in part.iter_rows()]
        page: dict[str, Any] = {"kind": "bigquery#tableDataList",
                                "totalRows": str(table.frame.height), "rows": rows}  # fmt: skip
        if start + size < table.frame.height:
            page["pageToken"] = str(start + size)
        return page

    # --- query jobs -------------------------------------------------------------------------

    def _insert_job(self, project: str, text: str) -> dict[str, Any]:
        from google.cloud import bigquery

        self._check_project(project)
        try:
            body = json.loads(text or "{}")
        except ValueError as err:
            raise BigQueryError(400, "parseError", f"Parse error: {err}") from None
        configuration = body.get("configuration") or {}
        if "query" not in configuration:
            raise BigQueryError(400, "invalid", "Required parameter is missing: configuration")
        config = bigquery.QueryJobConfig.from_api_repr(configuration)
        sql = (configuration["query"] or {}).get("query", "")
        if not str(sql).strip():
            raise BigQueryError(400, "invalid", "Required parameter is missing: query")
        if config.use_legacy_sql:
            raise BigQueryError(400, "invalid", "this stand-in runs GoogleSQL only")
        reference = body.get("jobReference") or {}
        job_id = reference.get("jobId") or uuid.uuid4().hex
        job = _Job(project, job_id, sql)
        try:
            job.table = self._run(sql)
        except BigQueryError as err:
            job.error = err
        status: dict[str, Any] = {"state": "DONE"}
        if job.error is not None:
            status["errorResult"] = {"reason": job.error.reason, "message": job.error.message}
            status["errors"] = [status["errorResult"]]
        job.resource = {
            "kind": "bigquery#job",
            "id": f"{project}:US.{job_id}",
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "configuration": {"jobType": "QUERY", **configuration},
            "status": status,
            "statistics": {
                "creationTime": "0",
                "startTime": "0",
                "endTime": "0",
                "query": {"statementType": "SELECT"},
            },
        }
        if job.table is not None:
            job.resource["configuration"]["query"]["destinationTable"] = {
                "projectId": project, "datasetId": "_anon", "tableId": f"anon_{job_id}"
            }  # fmt: skip
        with self.lock:
            self.jobs[job_id] = job
        return job.resource

    def _job(self, project: str, job_id: str) -> _Job:
        job = self.jobs.get(job_id)
        if job is None or job.project != project:
            raise BigQueryError(404, "notFound", f"Not found: Job {project}:US.{job_id}")
        return job

    def _run(self, sql: str) -> _Table:
        names: dict[str, str] = {}

        def swap(m: re.Match) -> str:
            ref = m.group(1) or m.group(2)
            full = ref if ref.count(".") == 2 else f"{self.project}.{ref}"
            if full not in self.tables:
                datasets = {t.split(".")[1] for t in self.tables}
                if m.group(1) is None and ref.count(".") == 1 and ref.split(".")[0] not in datasets:
                    return m.group(0)  # `alias.column`, not a table
                raise BigQueryError(
                    404,
                    "notFound",
                    f"Not found: Table {full.replace('.', ':', 1)} was not found in location US",
                )
            names.setdefault(full, f"t{len(names)}")
            return names[full]

        text = _TABLE_REF.sub(swap, sql)
        context = pl.SQLContext({alias: self.tables[full].frame for full, alias in names.items()})
        try:
            frame = context.execute(text, eager=True)
        except Exception as err:  # Polars raises several error types for a query that fails
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BigQueryError(
                400, "invalidQuery", f"Syntax error or invalid query: {first}"
            ) from None
        types = {n: _bq_type(t) for n, t in frame.schema.items()}
        for full in names:  # keep declared types of columns selected as they are
            for column, kind in self.tables[full].types.items():
                if column in types and kind != _bq_type(self.tables[full].frame.schema[column]):
                    types[column] = kind
        return _Table(frame, types)


def _bq_type(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "BOOLEAN"
    if dtype.is_integer():
        return "INTEGER"
    if dtype.is_float():
        return "FLOAT"
    if dtype == pl.Date:
        return "DATE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP" if dtype.time_zone else "DATETIME"
    return "STRING"


def _text(value: Any) -> str | None:
    """A value as tabledata.list sends it: text, `true`/`false`, ISO dates; null as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
