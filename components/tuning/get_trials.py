"""GetTrialsOp for Vertex: a tuning job's trials, read through the Vertex AI API.

GCPC 2.x no longer ships it; this keeps the former experimental op's interface
(`gcp_resources: str` -> `List[str]`, each trial as `Trial.to_json` gives it). The job is the
one `gcp_resources` names: GCPC's launcher writes
`https://LOCATION-aiplatform.googleapis.com/v1/projects/P/locations/L/hyperparameterTuningJobs/ID`,
the local twin `local://projects/P/locations/L/hyperparameterTuningJobs/ID`.
"""

import json
import re
from typing import Any

from vtp.components._component import vtp_component
from vtp.errors import SpecError

_JOB_NAME = re.compile(
    r"(projects/[^/\s]+/locations/([^/\s]+)/hyperparameterTuningJobs/[^/\s]+)/?$"
)
#: The `resourceUri` prefix of the jobs vtp's local twins run.
LOCAL_PREFIX = "local://"
_ALLOWED = (
    'must be the JSON a tuning job op writes: {"resources": [{"resourceType": '
    '"HyperparameterTuningJob", "resourceUri": ".../projects/P/locations/L/'
    'hyperparameterTuningJobs/ID"}]}'
)


def tuning_job_uri(gcp_resources: str) -> str:
    """The `resourceUri` of the one HyperparameterTuningJob in a `gcp_resources` document.

    Raises:
        SpecError: the document is not JSON or names no (or several) tuning jobs.
    """
    try:
        doc = json.loads(gcp_resources)
    except (TypeError, ValueError):
        raise SpecError("gcp_resources", gcp_resources, _ALLOWED) from None
    resources = doc.get("resources") if isinstance(doc, dict) else None
    if not isinstance(resources, list):
        raise SpecError("gcp_resources", gcp_resources, _ALLOWED)
    jobs = [
        r
        for r in resources
        if isinstance(r, dict)
        and r.get("resourceType", r.get("resource_type")) == "HyperparameterTuningJob"
    ]
    if len(jobs) != 1:
        raise SpecError(
            "gcp_resources", gcp_resources, f"{_ALLOWED} (found {len(jobs)} tuning jobs)"
        )
    uri = jobs[0].get("resourceUri", jobs[0].get("resource_uri"))
    if not isinstance(uri, str) or not uri:
        raise SpecError("gcp_resources.resources[0].resourceUri", uri, "must be a non-empty URI")
    return uri


def tuning_job_name(gcp_resources: str) -> tuple[str, str]:
    """`(resource name, location)` of the tuning job in `gcp_resources`.

    Raises:
        SpecError: as `tuning_job_uri`, or the URI does not end in a tuning job's name.
    """
    uri = tuning_job_uri(gcp_resources)
    match = _JOB_NAME.search(uri)
    if match is None:
        raise SpecError(
            "gcp_resources.resources[0].resourceUri",
            uri,
            "must end in projects/P/locations/L/hyperparameterTuningJobs/ID",
        )
    return match[1], match[2]


def api_endpoint(location: str) -> str:
    """The regional Vertex AI endpoint: `LOCATION-aiplatform.googleapis.com`."""
    return f"{location}-aiplatform.googleapis.com"


def read_trials(
    name: str, *, endpoint: str, transport: str | None = None, credentials: Any = None
) -> list[str]:
    """The trials of tuning job `name`, each as `Trial.to_json` gives it.

    Args:
        name: `projects/P/locations/L/hyperparameterTuningJobs/ID`.
        endpoint: the API endpoint (`api_endpoint(location)`).
        transport: the client transport (None: the default, gRPC).
        credentials: None: Application Default Credentials.
    """
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.JobServiceClient(
        client_options={"api_endpoint": endpoint}, transport=transport, credentials=credentials
    )
    job = client.get_hyperparameter_tuning_job(name=name)
    return [aiplatform_v1.Trial.to_json(trial) for trial in job.trials]


def vertex_trials(gcp_resources: str) -> list[str]:
    """The trials of the Vertex tuning job in `gcp_resources`, through its regional endpoint."""
    name, location = tuning_job_name(gcp_resources)
    return read_trials(name, endpoint=api_endpoint(location))


def local_trials(gcp_resources: str) -> list[str]:
    """The trials a local tuning job (`local://...` in `gcp_resources`, written by vtp's local
    twin) recorded under `$VTP_HOME/tuning/<job_id>/trials.json`, as `Trial.to_json` strings.

    Raises:
        SpecError: `gcp_resources` names no local tuning job.
        FileNotFoundError: the job has no trial record in this vtp home.
    """
    from vtp.home import vtp_home

    uri = tuning_job_uri(gcp_resources)
    if not uri.startswith(LOCAL_PREFIX):
        raise SpecError(
            "gcp_resources.resources[0].resourceUri",
            uri,
            "must be a local tuning job (local://projects/...)",
        )
    name, _ = tuning_job_name(gcp_resources)
    path = vtp_home() / "tuning" / name.rsplit("/", 1)[1] / "trials.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no trials recorded for {name}: {path} does not exist (is VTP_HOME the home the "
            "tuning job ran with?)"
        )
    return [json.dumps(trial) for trial in json.loads(path.read_text())]


def job_trials(gcp_resources: str) -> list[str]:
    """The trials of the tuning job `gcp_resources` names: a Vertex job's through the Vertex
    API, a local job's (`local://`, vtp's local twin) from the local study."""
    if tuning_job_uri(gcp_resources).startswith(LOCAL_PREFIX):
        return local_trials(gcp_resources)
    return vertex_trials(gcp_resources)


@vtp_component
def get_trials(gcp_resources: str) -> list[str]:
    """Reads the trials of a Vertex AI hyperparameter tuning job (or, in a local run, of the
    local twin's job, which `gcp_resources` names as `local://...`).

    Args:
        gcp_resources: The `gcp_resources` output of `HyperparameterTuningJobRunOp`.

    Returns:
        Every trial as JSON, in the shape `aiplatform_v1.Trial.to_json` gives (INFEASIBLE
        trials included: they have no `finalMeasurement`).
    """
    from vtp.components.tuning.get_trials import job_trials

    return job_trials(gcp_resources)
