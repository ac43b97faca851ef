"""The one place that initialises the Vertex AI SDK, and turns its failures into vtp's errors.

`VTP_VERTEX_ENDPOINT=http://127.0.0.1:PORT` points the SDK at a loopback stand-in of the
Vertex AI REST API (anonymous credentials, REST transport); without it, the SDK talks to
Vertex AI with the application default credentials.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vtp.defaults import DEFAULT_LOCATION
from vtp.errors import RemoteError, SpecError, VtpError

ENDPOINT_ENV = "VTP_VERTEX_ENDPOINT"
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
LOCATION_ENV = "VTP_LOCATION"
#: Where the SDK sends Cloud Storage calls (it checks the pipeline root bucket on submit).
STORAGE_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
#: The shape of a Vertex AI location: a region (`us-central1`), `global` or a multi-region (`us`).
LOCATION = re.compile(r"[a-z]+(-[a-z]+[0-9]+)?")
LOCATION_RULE = "must be a Vertex AI region such as us-central1 or europe-west4"


class RequestFailed(RemoteError):
    """Vertex AI refused a request or could not be reached."""


@dataclass(frozen=True)
class Target:
    """Where requests go: a project and location, on Vertex AI or on a loopback endpoint."""

    project: str
    location: str
    endpoint: str | None = None

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


def target(project: str | None = None, location: str | None = None) -> Target:
    """Project and location from the options, else `GOOGLE_CLOUD_PROJECT` / `VTP_LOCATION`.

    Raises:
        VtpError: no project is given anywhere.
        SpecError: the location is not shaped like a Vertex AI location.
    """
    project = project or os.environ.get(PROJECT_ENV, "")
    if not project.strip():
        raise VtpError(
            f"no project: pass --project PROJECT or set {PROJECT_ENV} "
            "(the Google Cloud project that owns the runs)"
        )
    given = location
    location = (location or os.environ.get(LOCATION_ENV) or DEFAULT_LOCATION).strip()
    if not LOCATION.fullmatch(location):
        raise SpecError("--location" if given else LOCATION_ENV, location, LOCATION_RULE)
    return Target(project.strip(), location, os.environ.get(ENDPOINT_ENV) or None)


def init(where: Target, *, storage: bool = False) -> None:
    """`aiplatform.init` for `where`; `storage=True` when the call will touch Cloud Storage.

    Raises:
        VtpError: a loopback endpoint is set for a call that touches Cloud Storage but
            `STORAGE_EMULATOR_HOST` is not (the SDK would otherwise reach Google).
        SpecError: the location is not one the SDK knows Vertex AI serves.
    """
    check_location(where)
    from google.cloud import aiplatform
    from google.cloud.aiplatform import initializer

    _quiet_sdk_logs()
    initializer.global_config.__init__()  # init() keeps what an earlier call set: start anew
    if where.endpoint is None:
        aiplatform.init(project=where.project, location=where.location)
        return
    if storage and not os.environ.get(STORAGE_EMULATOR_ENV):
        raise VtpError(
            f"{ENDPOINT_ENV} is set ({where.endpoint}) but {STORAGE_EMULATOR_ENV} is not: "
            "the SDK checks the pipeline root bucket on submit, so point it at a storage "
            "emulator too"
        )
    from google.auth.credentials import AnonymousCredentials

    aiplatform.init(
        project=where.project,
        location=where.location,
        api_endpoint=where.endpoint,
        api_transport="rest",
        credentials=AnonymousCredentials(),
    )


def check_location(where: Target) -> None:
    """Refuses a location the SDK does not know Vertex AI serves (it would raise a bare
    ValueError in `aiplatform.init`); no request is made.

    Raises:
        SpecError: naming the location.
    """
    _quiet_sdk_logs()  # before the import, so the SDK's loggers add no stdout handler
    from google.cloud.aiplatform.utils import validate_region

    try:
        validate_region(where.location)
    except ValueError:
        raise SpecError(
            "location", where.location, "must be a region Vertex AI serves, such as us-central1"
        ) from None


def check_loopback_bucket(where: Target, pipeline_root: str, service_account: str | None) -> None:
    """On a loopback endpoint, refuses a submit that would make the SDK call Google.

    `PipelineJob.submit` checks the pipeline-root bucket: a missing one it creates and opens
    to the run's service account; for an existing one, or without a service account, it asks
    Cloud Resource Manager for the project number, which has no loopback stand-in.

    Raises:
        VtpError: the bucket exists in the storage emulator, or no service account is given.
    """
    if where.endpoint is None:
        return
    bucket = pipeline_root.removeprefix("gs://").split("/", 1)[0]
    reason = "the SDK would ask Cloud Resource Manager (not on loopback) for the project number"
    if not service_account:
        raise VtpError(f"{ENDPOINT_ENV} is set: pass --service-account ({reason})")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project=where.project, credentials=AnonymousCredentials())
    if client.bucket(bucket).exists():
        raise VtpError(
            f"{ENDPOINT_ENV} is set and pipeline root bucket {bucket!r} already exists in the "
            f"storage emulator: use a new bucket ({reason} to check who owns it)"
        )


def describe(err: Exception) -> str:
    """`<HTTP status> <canonical status>: <message>` of an API error (REST or gRPC)."""
    status, message = "", getattr(err, "message", None) or str(err)
    grpc_code = getattr(err, "grpc_status_code", None)
    if grpc_code is not None:
        status = grpc_code.name
    response = getattr(err, "response", None)
    if response is not None and hasattr(response, "json"):
        try:
            body = response.json().get("error", {})
        except ValueError:
            body = {}
        status = body.get("status") or status
        message = body.get("message") or message
    code = getattr(err, "code", None)
    head = " ".join(str(part) for part in (int(code) if code else None, status) if part)
    return f"{head}: {message}" if head else message


class _OneLine(logging.Formatter):
    """An SDK warning or error on one line, its exception's message instead of a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]}"
        return "vtp: warning: Vertex AI SDK: " + " ".join(text.split())


def _quiet_sdk_logs() -> None:
    """The SDK logs every call at INFO on stdout (a handler per logger); vtp prints its own
    lines. Its warnings and errors reach stderr, one line each."""
    prefix = "google.cloud.aiplatform"
    parent = logging.getLogger(prefix)
    if not any(getattr(h, "vtp", False) for h in parent.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(_OneLine())
        handler.vtp = True
        parent.addHandler(handler)  # loggers created later find it and add no stdout handler
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(prefix + ".") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.WARNING)
            for h in list(logger.handlers):
                if isinstance(h, logging.StreamHandler) and not getattr(h, "vtp", False):
                    logger.removeHandler(h)


@contextmanager
def requests_to(action: str) -> Iterator[None]:
    """Turns what the SDK raises while it `action`s into one-line vtp errors.

    API errors and unreachable endpoints become `RequestFailed` ("Vertex AI refused to
    create the pipeline run: 403 PERMISSION_DENIED: ..."); missing credentials a `VtpError`.
    """
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from requests import exceptions as http

    _quiet_sdk_logs()
    try:
        yield
    except api.GoogleAPICallError as err:
        raise RequestFailed(f"Vertex AI refused to {action}: {describe(err)}") from None
    except RuntimeError as err:  # the SDK wraps some API errors (experiments) in its own
        if not isinstance(err.__cause__, api.GoogleAPICallError):
            raise
        reason = " ".join(str(err).split())
        raise RequestFailed(
            f"Vertex AI refused to {action}: {describe(err.__cause__)} ({reason})"
        ) from None
    except api.RetryError as err:
        raise RequestFailed(f"Vertex AI did not answer in time to {action}: {err}") from None
    except auth.DefaultCredentialsError:
        raise VtpError(
            "no Google credentials: run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from None
    except (auth.TransportError, http.RequestException, ConnectionError) as err:
        raise RequestFailed(f"cannot reach Vertex AI to {action}: {err}") from None
