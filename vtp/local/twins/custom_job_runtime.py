"""What the custom job twin does: the payload Vertex would get, validated, run locally."""

from __future__ import annotations

import copy
import datetime as dt
import json

from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import json_util

from vtp.errors import SpecError
from vtp.home import local_gcs_root, vtp_home
from vtp.local.twins.records import new_resource_id, write_gcp_resources, write_record


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


def run_custom_job_twin(*, gcp_resources_path: str, project: str, location: str, payload: dict):
    """Validates and runs one custom job locally; records it under `$VTP_HOME/jobs/<id>/`."""
    from vtp.components.specs.distributed import validate_layout
    from vtp.local.executor import LocalJob, image_commands_from_env, run_local_job

    raw_pools = payload["job_spec"]["worker_pool_specs"]
    job = launcher_payload(payload)
    pools = job["job_spec"].get("worker_pool_specs", [])
    if len(pools) != len(raw_pools):
        print(
            f"notice: {len(raw_pools) - len(pools)} empty worker pool(s) removed, as GCPC's "
            "launcher does; later pools move up a role"
        )
    validate_layout(pools)
    validate_custom_job(job)

    job_id = new_resource_id()
    name = f"projects/{project}/locations/{location}/customJobs/{job_id}"
    home = vtp_home()
    job_dir = home / "jobs" / job_id
    write_gcp_resources(gcp_resources_path, "CustomJob", name)
    record = {"name": name, "state": "JOB_STATE_RUNNING", "job": job, "start_time": _now()}
    write_record(job_dir, "job.json", record)
    strategy = job["job_spec"].get("scheduling", {}).get("strategy", "STANDARD")
    if strategy == "SPOT":
        print("notice: SPOT strategy: a local job is never preempted")
    print(f"local custom job {name}")
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
            # one hypertune metrics file per job, not a shared /tmp/hypertune
            extra_env={"CLOUD_ML_HP_METRIC_FILE": str(job_dir / "hypertune" / "output.metrics")},
        )
    except BaseException as err:
        record.update(state="JOB_STATE_FAILED", error=str(err), end_time=_now())
        write_record(job_dir, "job.json", record)
        raise
    record.update(state=f"JOB_STATE_{result.state}", end_time=_now())
    write_record(job_dir, "job.json", record)
    if result.state != "SUCCEEDED":
        raise RuntimeError(f"custom job {name} ended in state {result.state}")
    print(f"custom job {job_id} succeeded")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
