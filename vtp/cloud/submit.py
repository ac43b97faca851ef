"""`vtp submit`: one pipeline run on Vertex AI, and (with `--wait`) its progress to the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vtp.cloud import pipeline_job, templates
from vtp.cloud.templates import ResolvedTemplate
from vtp.cloud.vertex_client import Target, check_location, check_loopback_bucket, init, requests_to

if TYPE_CHECKING:
    from vtp.config import Images

#: Run states after which nothing changes, and the exit code each gives.
FINAL_STATES = {
    "PIPELINE_STATE_SUCCEEDED": 0,
    "PIPELINE_STATE_FAILED": 1,
    "PIPELINE_STATE_CANCELLED": 1,
    "PIPELINE_STATE_PAUSED": 1,
}
_TASK_MARKS = {
    "SUCCEEDED": "ok  ",
    "FAILED": "FAIL",
    "SKIPPED": "skip",
    "CANCELLED": "stop",
    "NOT_TRIGGERED": "skip",
}


@dataclass(frozen=True)
class Submitted:
    """A created run: its SDK object, resource name and console page."""

    job: Any
    resource_name: str
    console_url: str


def prepare(
    ref: str,
    where: Target,
    *,
    assignments: Mapping[str, str] | None = None,
    file_values: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    images: Images | None = None,
    compiled: str | Path | None = None,
) -> tuple[ResolvedTemplate, dict[str, Any]]:
    """The template (downloaded into `work_dir` from a registry) and typed parameters: every
    check done before any request to Vertex AI.

    Args:
        images: The configured images the template must run with.
        compiled: Your compiled pipelines' directory, where catalog names are looked up first.
            Both default to the configuration in effect (`vtp config`).

    Raises:
        RegistryRequestError: the template registry failed or could not be reached.
        UnpullableImage: the template names a vtp image Vertex cannot pull, or not the
            configured one.
    """
    from vtp.check.images import refuse_unpullable

    if images is None or compiled is None:
        from vtp import config

        configured = config.load()
        images = images or configured.images()
        compiled = compiled or configured.value("compiled")
    template = templates.resolve_template(ref, work_dir=work_dir, compiled=compiled)
    values = pipeline_job.check_parameters(
        template, where, assignments=assignments, file_values=file_values
    )
    source = template.template_uri or str(template.path)
    refuse_unpullable(templates.read_spec(template.path), images, source, values)
    check_location(where)
    return template, values


def submit(
    template: ResolvedTemplate,
    values: Mapping[str, Any],
    options: pipeline_job.RunOptions,
    where: Target,
    *,
    experiment: str | None = None,
) -> Submitted:
    """Creates the run on Vertex AI (one CreatePipelineJob request).

    Raises:
        RequestFailed: Vertex AI refused the request or could not be reached.
    """
    init(where, storage=True)
    with requests_to("create the pipeline run"):
        job = pipeline_job.build_job(template, values, options, where)
        root = job._gca_resource.runtime_config.gcs_output_directory  # not sent yet
        check_loopback_bucket(where, root, options.service_account)
        job.submit(
            service_account=options.service_account,
            network=options.network,
            experiment=experiment,
        )
    name = job.resource_name
    return Submitted(job, name, pipeline_job.console_url(name))


def wait(
    job,
    *,
    poll_seconds: float,
    out: TextIO | None = None,
) -> str:
    """Polls the run until it ends, printing (on `out`, default stderr) its state and each
    task as it changes.

    Returns:
        The final state name (`PIPELINE_STATE_SUCCEEDED`, ...).
    """
    out = out or sys.stderr
    started = time.monotonic()
    shown_state = ""
    shown_tasks: dict[str, str] = {}
    while True:
        with requests_to("report the pipeline run's state"):
            state = job.state.name
            resource = job._gca_resource  # refreshed by `job.state`
        final = state in FINAL_STATES
        if final:
            _print_tasks(resource, shown_tasks, out)  # the last tasks, then how the run ended
        if state != shown_state:
            seconds = time.monotonic() - started
            print(f"  run  {_short(state)}  ({seconds:.0f} s)", file=out, flush=True)
            shown_state = state
        if final:
            return state
        _print_tasks(resource, shown_tasks, out)
        time.sleep(poll_seconds)


def _short(state: str) -> str:
    return state.removeprefix("PIPELINE_STATE_")


def _print_tasks(resource, shown: dict[str, str], out: TextIO) -> None:
    root = resource.pipeline_spec.get("pipelineInfo", {}).get("name") if resource else None
    for task in resource.job_detail.task_details:
        name, state = task.task_name, task.state.name
        if not name or name == root or shown.get(name) == state:
            continue
        shown[name] = state
        if state in _TASK_MARKS:
            line = f"  {_TASK_MARKS[state]} {name}"
            if task.start_time and task.end_time:
                seconds = (task.end_time - task.start_time).total_seconds()
                line += f"  ({seconds:.1f} s)"
            if task.error and task.error.message:
                line += f": {task.error.message}"
        elif state == "RUNNING":
            line = f"  ...  {name}"
        else:
            continue
        print(line, file=out, flush=True)


def cancel(job) -> None:
    """Asks Vertex AI to cancel the run (it ends as CANCELLED)."""
    with requests_to("cancel the pipeline run"):
        job.cancel()


def final_error(job) -> str:
    """The run's error message, if Vertex AI gave one."""
    error = job._gca_resource.error
    return error.message if error and error.message else ""
