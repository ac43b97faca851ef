"""A loopback stand-in of the Vertex AI REST API, for tests of code that uses the real
`google-cloud-aiplatform` SDK or the `google.cloud.aiplatform_v1` GAPIC clients.

Nothing reaches Google: `VertexStandIn` is a threaded HTTP server on 127.0.0.1 (a free
port), and clients are pointed at it with the REST transport and anonymous credentials. An
`http://` endpoint is honoured by the REST transport as given (the scheme in `api_endpoint`
wins over the transport's default `https`), for the SDK and for GAPIC clients alike:

    with VertexStandIn(project="p", location="us-central1") as vertex:
        vertex.init_sdk()  # aiplatform.init(api_endpoint=vertex.endpoint, api_transport="rest",
                           #                 credentials=AnonymousCredentials(), ...)
        job = aiplatform.PipelineJob(display_name="x", template_path="compiled/...yaml", ...)
        job.submit(service_account="runner@p.iam.gserviceaccount.com")
        client = vertex.client(aiplatform_v1.PipelineServiceClient)  # or any GAPIC client

`PipelineJob.submit` first checks (or creates) the pipeline-root bucket through Cloud Storage:
run it inside `tests.standins.gcs.gcs_emulator()`, with no bucket of that name and with a
service account; otherwise the SDK asks Cloud Resource Manager for the project number (not on
loopback: about a minute of retries, then it logs the error and carries on).

Served (under `/v1/` and `/v1beta1/`; a v1beta1 body is decoded strictly with its v1beta1 type
and kept as v1):

- PipelineJobs: create (`?pipelineJobId=`), get, list (`filter`, `orderBy`, `pageSize`,
  `pageToken`, `readMask`; no `jobDetail` in the list view), `:cancel`, delete (an operation;
  only a finished job). A create is decoded strictly into `aiplatform_v1.PipelineJob` and
  refused (400 INVALID_ARGUMENT, Google's error JSON, the message naming the field, the value
  and what is allowed) for: a missing `pipeline_spec` or one without `pipelineInfo.name`,
  `schemaVersion`, `root.dag`, or with a task naming a missing component or a component naming
  a missing executor; no pipeline root (`runtime_config.gcs_output_directory` or the spec's
  `defaultPipelineRoot`) or one that is not `gs://BUCKET/...`; `parameter_values` for inputs
  the spec does not declare, of the wrong type (STRING, NUMBER_INTEGER, NUMBER_DOUBLE,
  BOOLEAN, LIST, STRUCT), or missing a required input (no default, not optional); the
  deprecated `parameters` with a 2.1.0 spec; `input_artifacts` the spec does not declare;
  labels (at most 64; keys start with a lowercase letter; keys and values up to 64 lowercase
  letters, digits, `_`, `-`); a display name over 128 characters; a service account that is
  not a `...gserviceaccount.com` email; a network not `projects/NUMBER/global/networks/NAME`
  of this project's number; a KMS key outside the job's location; a job id not
  `[a-z][-a-z0-9]{0,127}` (409 ALREADY_EXISTS when taken). Unknown project: 403
  PERMISSION_DENIED; another location than the endpoint's: 400.
- The answer is the job with `name` `projects/{p}/locations/{l}/pipelineJobs/{id}`,
  `create_time`, state PIPELINE_STATE_PENDING and the label `vertex-ai-pipelines-run-billing-id`
  (which Vertex sets). Each GET of the job moves it on: the first to RUNNING (`start_time`,
  `job_detail.pipeline_context` / `pipeline_run_context`, `task_details` from the spec's DAG,
  nested DAGs included, with `parent_task_id`), it stays RUNNING for `running_gets` GETs
  (tasks finishing in dependency order), then it ends: SUCCEEDED, or FAILED as planned. A
  cancel makes it CANCELLING, the next GET CANCELLED. Lists do not move jobs on.
- Schedules: create (decoded into `aiplatform_v1.Schedule`; checked: display name, cron with an
  optional `TZ=`/`CRON_TZ=` prefix, five fields each in range, the embedded
  `create_pipeline_job_request` as a job create and with the schedule's parent,
  `max_concurrent_run_count >= 1`, `max_run_count >= 0`, `end_time` after `start_time` (or
  after now)), get, list, `:pause` (ACTIVE only), `:resume` (PAUSED only; `catch_up` puts
  `next_run_time` on the first missed run), PATCH with `updateMask` (ACTIVE or PAUSED only;
  set fields cannot be unset), delete (an operation). States ACTIVE / PAUSED / COMPLETED
  (`max_run_count` runs started or no fire time before `end_time`); `next_run_time` is the
  cron's next fire time after now (or `start_time`), in the cron's time zone.
  `fire_schedule(name)` starts the run that is due, as Vertex would at `next_run_time`.
- Operations: `GET .../operations/ID` (also under `/ui/`, where the REST operations client
  sends it), done after `operation_polls` GETs.
- Metadata (what `PipelineJob.submit(experiment=...)` calls): get / create metadata stores,
  get / create / list contexts, `:addContextChildren`.
- Seeded, read-only: models (list with `filter`, get `models/ID[@VERSION|@ALIAS]`,
  `:listVersions`; the list shows each model's version holding `default`) and hyperparameter
  tuning jobs (get).
- Anything else: 404 NOT_FOUND naming the method and path. Unknown query parameters: 400, as
  Google's front end answers.

Over REST, api_core raises by HTTP status: a 400 is `google.api_core.exceptions.BadRequest`,
a 403 `Forbidden`, a 409 `Conflict` (their gRPC-named subclasses `InvalidArgument`,
`PermissionDenied`, `AlreadyExists` are raised by the gRPC transport only); catch the HTTP-named
classes to handle both transports. `NotFound` is the same on both.

Tests control outcomes with `fail_next_pipeline_job(task=..., message=...)`,
`fail_pipeline_jobs(display_name, task=..., message=...)`, `running_gets`,
`fire_schedule(name)`, `add_model_version(...)`, `add_tuning_job(...)`; they inspect
`requests` (every request: method, path, query, JSON body, decoded message, status),
`pipeline_job(name)`, `schedule(name)`, `context(name)` and `errors` (handler crashes, which
are answered 500).
"""

from __future__ import annotations

import json
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from standins.vertex_common import Call, RecordedRequest, Route, to_json
from standins.vertex_errors import ApiError
from standins.vertex_metadata import MetadataService
from standins.vertex_operations import OperationService
from standins.vertex_pipelines import Outcome, PipelineService
from standins.vertex_registry import RegistryService
from standins.vertex_schedules import ScheduleService

_ALWAYS_ALLOWED = {"$alt", "alt", "prettyPrint", "$prettyPrint", "key"}
#: `/ui/` is where the REST operations client sends `GET .../operations/ID` (its first
#: http rule); it serves the v1 surface.
_VERSIONS = ("v1", "v1beta1", "ui")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = self.server.standin.dispatch(self.command, self.path, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: VertexStandIn


class VertexStandIn:
    """The Vertex AI REST API on loopback, for one project and one regional endpoint.

    Args:
        project: The project id the API knows (URLs may also use `project_number`).
        location: The endpoint's region; URLs naming another are refused.
        project_number: The project's number (networks name it).
        running_gets: How many GETs a pipeline job answers RUNNING before it ends.
        default_page_size: The page size of lists that give none.
        operation_polls: How many GETs an operation takes to be done (0: done at once).
    """

    def __init__(
        self,
        project: str = "p",
        location: str = "us-central1",
        *,
        project_number: str = "123456789012",
        running_gets: int = 1,
        default_page_size: int = 50,
        operation_polls: int = 1,
    ):
        self.project = project
        self.location = location
        self.project_number = project_number
        self.running_gets = running_gets
        self.default_page_size = default_page_size
        self.operation_polls = operation_polls
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []
        self.lock = threading.RLock()
        self._seq = 0
        self.pipelines = PipelineService(self)
        self.schedules = ScheduleService(self)
        self.metadata = MetadataService(self)
        self.registry = RegistryService(self)
        self.operations = OperationService(self)
        self._routes: list[Route] = [
            *self.pipelines.routes(),
            *self.schedules.routes(),
            *self.metadata.routes(),
            *self.registry.routes(),
            *self.operations.routes(),
        ]
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sdk_initialised = False

    # lifecycle

    def start(self) -> VertexStandIn:
        """Starts serving on 127.0.0.1 (a free port); returns self."""
        if self._server is None:
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self._server.standin = self
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
                name="vertex-standin",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving, and resets the SDK's global config if `init_sdk` set it."""
        if self._sdk_initialised:
            from google.cloud.aiplatform import initializer

            initializer.global_config.__init__()
            self._sdk_initialised = False
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> VertexStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Vertex stand-in is not started: use start() or `with`")
        return self._server.server_port

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`, the `api_endpoint` for the SDK or a GAPIC client."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    # clients

    def init_sdk(self, **kwargs: Any) -> None:
        """`aiplatform.init` pointed here (REST, anonymous credentials); `kwargs` are passed
        on (e.g. `staging_bucket`, `service_account`). `stop()` resets the SDK's config."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform

        options = {
            "project": self.project,
            "location": self.location,
            "api_endpoint": self.endpoint,
            "api_transport": "rest",
            "credentials": AnonymousCredentials(),
        }
        aiplatform.init(**{**options, **kwargs})
        self._sdk_initialised = True

    def client(self, client_class: type, **kwargs: Any):
        """A GAPIC client (e.g. `aiplatform_v1.ScheduleServiceClient`) pointed here."""
        from google.auth.credentials import AnonymousCredentials

        return client_class(
            client_options={"api_endpoint": self.endpoint},
            transport="rest",
            credentials=AnonymousCredentials(),
            **kwargs,
        )

    # controls

    def fail_next_pipeline_job(
        self, task: str | None = None, message: str = "The task failed."
    ) -> None:
        """The next job created fails: in `task` (a task name of its pipeline; None: before
        any task runs) with `message` as that task's error."""
        with self.lock:
            self.pipelines.rules.insert(0, (None, Outcome("FAILED", task, message), True))

    def skip_in_next_pipeline_job(self, *conditions: str) -> None:
        """The next job created succeeds with `conditions` (condition task names of its
        pipeline, e.g. `condition-3`) false: they and their tasks end SKIPPED."""
        with self.lock:
            self.pipelines.rules.insert(0, (None, Outcome(skipped=conditions), True))

    def fail_pipeline_jobs(
        self, display_name: str, task: str | None = None, message: str = "The task failed."
    ) -> None:
        """Every job created with `display_name` fails, as in `fail_next_pipeline_job`."""
        with self.lock:
            self.pipelines.rules.append((display_name, Outcome("FAILED", task, message), False))

    def fire_schedule(self, name: str) -> str:
        """Starts the run an ACTIVE schedule has due (as at its `next_run_time`): a pipeline
        job with `schedule_name` set; counts it, plans the next. Returns the job's name."""
        with self.lock:
            return self.schedules.fire(name)

    def add_model_version(self, model) -> Any:
        """Seeds a model version (`aiplatform_v1.Model`, or its JSON as a dict; `name` without
        `@`, `versionId`, `versionAliases`, ...)."""
        with self.lock:
            return self.registry.add_model_version(model)

    def set_models(self, versions: list) -> None:
        """Replaces every seeded model by `versions`."""
        with self.lock:
            self.registry.models.clear()
            for version in versions:
                self.registry.add_model_version(version)

    def add_tuning_job(self, job) -> Any:
        """Seeds a `HyperparameterTuningJob` (a message or its JSON as a dict)."""
        with self.lock:
            return self.registry.add_tuning_job(job)

    # inspection

    def pipeline_job(self, name: str):
        """A copy of job `name` (a full name or its id) as stored, without moving it on."""
        from google.cloud import aiplatform_v1

        with self.lock:
            full = name if "/" in name else f"{self.parent}/pipelineJobs/{name}"
            return aiplatform_v1.PipelineJob(self.pipelines.jobs[full].job)

    def pipeline_jobs(self) -> list:
        """Copies of every job, oldest first."""
        from google.cloud import aiplatform_v1

        with self.lock:
            records = sorted(self.pipelines.jobs.values(), key=lambda r: r.seq)
            return [aiplatform_v1.PipelineJob(r.job) for r in records]

    def schedule(self, name: str):
        """A copy of schedule `name` (a full name or its id)."""
        from google.cloud import aiplatform_v1

        with self.lock:
            full = name if "/" in name else f"{self.parent}/schedules/{name}"
            return aiplatform_v1.Schedule(self.schedules.schedules[full])

    def context(self, name: str):
        """A copy of the metadata context `name`, or None."""
        with self.lock:
            return self.metadata.context(name)

    def calls(self, method: str | None = None, contains: str = "") -> list[RecordedRequest]:
        """The recorded requests with `method` whose path contains `contains`."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and contains in r.path
            ]

    # serving

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def parent_of(self, call: Call) -> str:
        return f"projects/{call.params['project']}/locations/{call.params['location']}"

    def name_of(self, call: Call, collection: str) -> str:
        return f"{self.parent_of(call)}/{collection}/{call.params['id']}"

    def _check_location(self, call: Call) -> None:
        project, location = call.params.get("project"), call.params.get("location")
        if project is None:
            return
        if project not in (self.project, self.project_number):
            raise ApiError(
                403,
                f"Permission denied on resource project {project} (or it may not exist); "
                f"this endpoint serves project {self.project} ({self.project_number})",
            )
        if location != self.location:
            raise ApiError(
                400,
                f"location {location!r} is not served by this regional endpoint "
                f"({self.location}): use the {location} endpoint",
            )

    def dispatch(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        """Answers one request: `(HTTP status, JSON body)`."""
        split = urlsplit(raw_path)
        path = unquote(split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        record = RecordedRequest(method, path, query)
        try:
            body_text = body.decode("utf-8")
            record.body = json.loads(body_text) if body_text.strip() else None
        except ValueError:  # not UTF-8 or not JSON: refused when the route reads it
            body_text = body.decode("utf-8", "replace")
        with self.lock:
            self.requests.append(record)
            try:
                status, payload = 200, self._answer(method, path, query, body_text, record)
            except ApiError as err:
                status, payload = err.code, err.body()
            except Exception as err:  # a crash of the stand-in itself: visible in tests
                self.errors.append(traceback.format_exc())
                crash = ApiError(500, f"stand-in crashed on {method} {path}: {err!r}")
                status, payload = 500, crash.body()
            record.status = status
        return status, payload

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        text: str,
        record: RecordedRequest,
    ) -> Any:
        version, _, rest = path.lstrip("/").partition("/")
        if version in _VERSIONS:
            for candidate in self._routes:
                match = candidate.pattern.fullmatch(rest)
                if candidate.method != method or match is None:
                    continue
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                alt = ";".join(query.get("$alt", []) + query.get("alt", []))
                call = Call(
                    method=method,
                    version="v1" if version == "ui" else version,
                    path=rest,
                    params=params,
                    query=query,
                    text=text,
                    record=record,
                    int_enums="enum-encoding=int" in alt,
                )
                unknown = sorted(set(query) - _ALWAYS_ALLOWED - candidate.query)
                if unknown:
                    raise ApiError(
                        400,
                        f'Invalid JSON payload received. Unknown name "{unknown[0]}": '
                        f"Cannot bind query parameter. Field '{unknown[0]}' could not be "
                        "found in request message.",
                    )
                self._check_location(call)
                answer = candidate.handler(call)
                if answer is None:
                    return {}
                if isinstance(answer, dict):
                    return answer
                return to_json(answer, call.int_enums)
        raise ApiError(404, f"stand-in: no Vertex AI API method answers {method} {path}")
