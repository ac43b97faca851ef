"""What the custom job twin does: the payload Vertex would get, validated, run locally."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import json_util

from vtp.errors import JobError, SpecError
from vtp.home import local_gcs_root, vtp_home
from vtp.local.twins.records import (
    existing_resource,
    new_resource_id,
    owner,
    write_gcp_resources,
    write_record,
)

#: Seconds a replica gets between SIGTERM and SIGKILL when its job is stopped: a cancelled run
#: leaves nothing running within a few seconds.
STOP_GRACE_S = 2.0


class JobCancelled(JobError):
    """A local job stopped because its run was cancelled (its record says CANCELLED)."""


def launcher_payload(payload: dict) -> dict:
    """The CustomJob GCPC's launcher sends: empty fields removed (which also removes `{}`
    pools, shifting later pools' roles), `max_wait_duration` dropped unless FLEX_START."""
    job = json_util.recursive_remove_empty(copy.deepcopy(payload))
    scheduling = job.get("job_spec", {}).get("scheduling", {})
    if scheduling.get("strategy") != "FLEX_START":
        scheduling.pop("max_wait_duration", None)
    return job


def validate_custom_job(job: dict) -> None:
    """Parses `job` into `aiplatform_v1.CustomJob`, as the API would."""
    from google.cloud.aiplatform_v1.types import CustomJob

    try:
        CustomJob.from_json(json.dumps(job), ignore_unknown_fields=False)
    except Exception as err:  # proto parse errors carry the field path in their message
        raise SpecError(
            "custom_job", _brief(job), f"must parse as aiplatform_v1.CustomJob: {err}"
        ) from err
    specs = job.get("job_spec", {}).get("worker_pool_specs", [])
    if not specs:
        raise SpecError("worker_pool_specs", specs, "must hold at least the primary pool")


def _brief(job: dict) -> str:
    return job.get("display_name", "<unnamed>")


def run_custom_job_twin(
    *,
    gcp_resources_path: str,
    project: str,
    location: str,
    payload: dict,
    log: Callable[[str], None] = print,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Validates and runs one custom job locally; records it under `$VTP_HOME/jobs/<id>/`.

    As GCPC's launcher does after a restart, a `gcp_resources` file that already names a job
    is read first: a job that SUCCEEDED is not run again. (A local job that did not finish
    has no processes left to follow, so it is started anew.)

    Returns:
        The job's resource name.

    Raises:
        JobCancelled: `should_stop()` turned true; the job is recorded CANCELLED.
        JobError: the job failed (recorded FAILED).
    """
    from vtp.components.specs.distributed import validate_layout
    from vtp.local.executor import LocalJob, image_commands_from_env, run_local_job

    home = vtp_home()
    previous = existing_resource(gcp_resources_path, "customJobs")
    if previous is not None:
        record_path = home / "jobs" / previous.rsplit("/", 1)[1] / "job.json"
        with contextlib.suppress(OSError, ValueError):
            if json.loads(record_path.read_text()).get("state") == "JOB_STATE_SUCCEEDED":
                log(f"custom job {previous} already succeeded (named by gcp_resources)")
                return previous
    raw_pools = payload["job_spec"]["worker_pool_specs"]
    job = launcher_payload(payload)
    pools = job["job_spec"].get("worker_pool_specs", [])
    if len(pools) != len(raw_pools):
        log(
            f"notice: {len(raw_pools) - len(pools)} empty worker pool(s) removed, as GCPC's "
            "launcher does; later pools move up a role"
        )
    validate_layout(pools)
    validate_custom_job(job)
    check_uris_and_size(job, pools)

    job_id = new_resource_id()
    name = f"projects/{project}/locations/{location}/customJobs/{job_id}"
    job_dir = home / "jobs" / job_id
    write_gcp_resources(gcp_resources_path, "CustomJob", name)
    record = {
        "name": name,
        "state": "JOB_STATE_RUNNING",
        "job": job,
        "start_time": _now(),
        **owner(),
    }
    write_record(job_dir, "job.json", record)
    strategy = job["job_spec"].get("scheduling", {}).get("strategy", "STANDARD")
    if strategy == "SPOT":
        log("notice: SPOT strategy: a local job is never preempted")
    log(f"local custom job {name}")
    try:
        result = run_local_job(
            LocalJob(
                display_name=job.get("display_name", ""),
                worker_pool_specs=pools,
                base_output_directory=job["job_spec"]
                .get("base_output_directory", {})
                .get("output_uri_prefix", ""),
                timeout=job["job_spec"].get("scheduling", {}).get("timeout", "604800s"),
                labels=job.get("labels", {}),
            ),
            work_dir=job_dir,
            gcs_root=local_gcs_root(home),
            image_commands=image_commands_from_env(),
            envs_root=home / "envs",
            extra_env={
                # one hypertune metrics file per job, not a shared /tmp/hypertune
                "CLOUD_ML_HP_METRIC_FILE": str(job_dir / "hypertune" / "output.metrics"),
                # `python3` in a replica's command (a KFP component wrapped as a custom job runs
                # `sh -ec '... python3 -m kfp.dsl.executor_main ...'`) is this environment's
                "PATH": os.pathsep.join(
                    [os.path.dirname(sys.executable), os.environ.get("PATH", "")]
                ),
            },
            log=log,
            should_stop=should_stop,
            stop_grace_s=STOP_GRACE_S,
        )
    except BaseException as err:
        record.update(state="JOB_STATE_FAILED", error=str(err), end_time=_now())
        write_record(job_dir, "job.json", record)
        raise
    record.update(state=f"JOB_STATE_{result.state}", end_time=_now())
    write_record(job_dir, "job.json", record)
    if result.state == "CANCELLED":
        raise JobCancelled(f"custom job {name} was cancelled: every replica was stopped")
    if result.state != "SUCCEEDED":
        raise RuntimeError(f"custom job {name} ended in state {result.state}")
    log(f"custom job {job_id} succeeded")
    return name


def check_uris_and_size(job: dict, pools: list) -> None:
    """Refuses, before any replica starts, what a local job cannot run safely: a `gs://` URI
    in the payload with `.`/`..` segments (it would name a file outside the local storage
    root) and more replicas than this machine allows at once (`vtp.local.limits`).

    Raises:
        SpecError: naming the field, the value and the rule.
    """
    from vtp.gcs import check_gcs_uri
    from vtp.local.limits import process_cap

    def walk(value: object, field: str) -> None:
        if isinstance(value, str):
            match = _GCS_VALUE.match(value)  # a URI, or a --flag=URI argument
            if match:
                check_gcs_uri(field, match.group(1))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{field}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{field}[{i}]")

    walk(job.get("job_spec", {}), "job_spec")
    replicas = sum(int(float((p or {}).get("replica_count", 1) or 1)) for p in pools if p)
    cap = process_cap()
    if replicas > cap.limit:
        raise SpecError(
            "worker_pool_specs",
            f"{replicas} replicas",
            f"must ask for at most {cap.limit} replicas locally: {cap.why}",
        )


_GCS_VALUE = re.compile(r"^(?:-{1,2}[\w.-]+=)?(gs://\S*)$")


def job_dir_of(name: str, home: Path | None = None) -> Path:
    """The local directory of custom job `name`."""
    return (home or vtp_home()) / "jobs" / name.rsplit("/", 1)[1]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
