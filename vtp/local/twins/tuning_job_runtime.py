"""What the tuning job twin does: the payload Vertex would get, validated, its trials run."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from collections.abc import Callable
from typing import Any

from google_cloud_pipeline_components.container.v1.gcp_launcher.utils import json_util

from vtp.components.tuning.study import StudySpec
from vtp.components.tuning.trials import STATES
from vtp.errors import SpecError
from vtp.home import local_gcs_root, vtp_home
from vtp.local.twins.custom_job_runtime import STOP_GRACE_S
from vtp.local.twins.records import existing_resource, new_resource_id, owner, write_gcp_resources

#: Where the twin keeps its tuning jobs, under `$VTP_HOME`.
TUNING_DIR = "tuning"


def launcher_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The HyperparameterTuningJob GCPC's launcher sends: empty fields removed, recursively
    (which also removes `{}` pools, shifting later pools' roles, and zero values)."""
    return json_util.recursive_remove_empty(copy.deepcopy(payload))


def validate_tuning_job(job: dict[str, Any]) -> None:
    """Parses `job` into `aiplatform_v1.HyperparameterTuningJob`, as the API would.

    Raises:
        SpecError: naming the field the proto refuses.
    """
    from vtp.components.specs._proto import check_message

    check_message("HyperparameterTuningJob", job)
    pools = job.get("trial_job_spec", {}).get("worker_pool_specs", [])
    if not pools:
        raise SpecError("worker_pool_specs", pools, "must hold at least the primary pool")


def study_from_payload(payload: dict[str, Any]) -> StudySpec:
    """The `StudySpec` of the op's inputs (`serialize_metrics` / `serialize_parameters` forms,
    enums as names or numbers)."""
    return StudySpec.from_dict(payload["study_spec"])


#: The local tuner's seed (GCPC's tuning op has no seed input); unset: a fresh seed per study.
SEED_ENV = "VTP_TUNING_SEED"


def seed_from_env() -> int | None:
    """`$VTP_TUNING_SEED` as an int, or None when it is unset or empty.

    Raises:
        SpecError: it is set to something that is not a non-negative integer.
    """
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise SpecError(SEED_ENV, text, "must be a non-negative integer (or unset: a fresh seed)")
    return int(text)


def run_tuning_job_twin(
    *,
    gcp_resources_path: str,
    project: str,
    location: str,
    payload: dict[str, Any],
    log: Callable[[str], None] = print,
    should_stop: Callable[[], bool] | None = None,
    notice: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Validates and runs one tuning job locally; records it under `$VTP_HOME/tuning/<id>/`.

    As GCPC's launcher does after a restart, a `gcp_resources` file that already names a local
    tuning job continues that job: one that SUCCEEDED is not run again, and an interrupted one
    resumes its study, keeping its finished trials.

    Returns:
        The finished trials in `Trial.to_json` shape (dicts).

    Raises:
        TuningJobCancelled: `should_stop()` turned true; the job is recorded CANCELLED.
    """
    import optuna

    from vtp.components.specs import parse_worker_pool_specs
    from vtp.local.tuner import run_local_study

    home = vtp_home()
    previous = existing_resource(gcp_resources_path, "hyperparameterTuningJobs")
    resume = False
    if previous is not None:
        job_dir = home / TUNING_DIR / previous.rsplit("/", 1)[1]
        record = _read_json(job_dir / "job.json")
        if record.get("state") == "JOB_STATE_SUCCEEDED":
            log(f"tuning job {previous} already succeeded (named by gcp_resources)")
            return _read_json(job_dir / "trials.json", [])
        resume = (job_dir / "study.db").is_file()
    study = study_from_payload(payload)
    raw_pools = payload["trial_job_spec"]["worker_pool_specs"]
    job = launcher_payload(payload)
    pools = job.get("trial_job_spec", {}).get("worker_pool_specs", [])
    if len(pools) != len(raw_pools):
        log(
            f"notice: {len(raw_pools) - len(pools)} empty worker pool(s) removed, as GCPC's "
            "launcher does; later pools move up a role"
        )
    parse_worker_pool_specs(pools)
    validate_tuning_job(job)

    if resume and previous is not None:
        name = previous
        log(f"resuming local hyperparameter tuning job {name}")
    else:
        job_id = new_resource_id()
        name = f"projects/{project}/locations/{location}/hyperparameterTuningJobs/{job_id}"
        write_gcp_resources(gcp_resources_path, "HyperparameterTuningJob", name)
        log(f"local hyperparameter tuning job {name}")
    job_id = name.rsplit("/", 1)[1]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = run_local_study(
        study=study,
        seed=seed_from_env(),
        worker_pool_specs=pools,
        max_trial_count=int(payload["max_trial_count"]),
        parallel_trial_count=int(payload["parallel_trial_count"]),
        max_failed_trial_count=int(payload.get("max_failed_trial_count") or 0),
        base_output_directory=job["trial_job_spec"]
        .get("base_output_directory", {})
        .get("output_uri_prefix", ""),
        job_dir=home / TUNING_DIR / job_id,
        gcs_root=local_gcs_root(home),
        display_name=job.get("display_name", ""),
        job_record={"name": name, "job": job, "create_time": _now(), **owner()},
        log=log,
        should_stop=should_stop,
        resume=resume,
        stop_grace_s=STOP_GRACE_S,
        notice=notice,
        progress=progress,
    )
    succeeded = sum(1 for t in trials if t["state"] == STATES["SUCCEEDED"])
    log(f"tuning job {job_id} succeeded: {succeeded} of {len(trials)} trial(s) SUCCEEDED")
    return trials


def _read_json(path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {} if default is None else default


def local_trials(gcp_resources: str) -> list[str]:
    """The trials a local tuning job recorded, as `Trial.to_json` strings.

    Raises:
        SpecError: `gcp_resources` names no local tuning job.
        FileNotFoundError: the job has no trial record under `$VTP_HOME/tuning/`.
    """
    from vtp.components.tuning.get_trials import tuning_job_name, tuning_job_uri

    uri = tuning_job_uri(gcp_resources)
    if not uri.startswith("local://"):
        raise SpecError(
            "gcp_resources.resources[0].resourceUri",
            uri,
            "must be a local tuning job (local://projects/...); read a Vertex job's trials "
            "with the VERTEX target's GetTrialsOp",
        )
    name, _ = tuning_job_name(gcp_resources)
    path = vtp_home() / TUNING_DIR / name.rsplit("/", 1)[1] / "trials.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no trials recorded for {name}: {path} does not exist (is VTP_HOME the home the "
            "tuning job ran with?)"
        )
    return [json.dumps(trial) for trial in json.loads(path.read_text())]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
