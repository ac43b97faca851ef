"""Custom job and tuning job payloads of a compiled pipeline, checked with vtp's own builders
(`components.specs`, `components.tuning.study`) against the `aiplatform_v1` protos."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from vtp.check.report import TaskCheck, known_values
from vtp.components.specs import (
    ROLES,
    ContainerSpec,
    CustomJobSpec,
    MachineSpec,
    Scheduling,
    WorkerPoolSpec,
    parse_worker_pool_specs,
    validate_worker_pool_specs,
)

#: Job-level inputs of GCPC's CustomTrainingJobOp that `CustomJobSpec` models.
JOB_FIELDS = (
    "service_account",
    "network",
    "reserved_ip_ranges",
    "tensorboard",
    "enable_web_access",
    "persistent_resource_id",
    "base_output_directory",
    "labels",
    "encryption_spec_key_name",
)
#: Job-level inputs of GCPC's HyperparameterTuningJobRunOp (its trial job spec and the job).
TUNING_JOB_FIELDS = (
    "service_account",
    "network",
    "base_output_directory",
    "encryption_spec_key_name",
)
SCHEDULING_FIELDS = ("timeout", "restart_job_on_worker_restart", "strategy", "max_wait_duration")
STUDY_INPUTS = {
    "study_spec_metrics": "metrics",
    "study_spec_parameters": "parameters",
    "study_spec_algorithm": "algorithm",
    "study_spec_measurement_selection_type": "measurement_selection_type",
}
TRIAL_COUNTS = ("max_trial_count", "parallel_trial_count", "max_failed_trial_count")

#: Inputs of vtp's `training_job_spec` component that shape the payload it builds.
JOB_SPEC_INPUTS = (
    "trainer_image",
    "trainer_command",
    "trainer_args",
    "package_uris",
    "python_module",
    "executor_image_uri",
    "machine_type",
    "accelerator_type",
    "accelerator_count",
    "hyperparameters",
    "timeout",
)
_JOB_SPEC_FIELDS = {
    "container_spec.image_uri": "trainer_image",
    "container_spec.command": "trainer_command",
    "container_spec.args": "trainer_args",
    "python_package_spec.args": "trainer_args",
    "machine_spec.machine_type": "machine_type",
    "machine_spec.accelerator_type": "accelerator_type",
    "machine_spec.accelerator_count": "accelerator_count",
    "scheduling.timeout": "timeout",
    "base_output_directory": "staging_root",
}


@cache
def stand_in_pool() -> WorkerPoolSpec:
    """A valid primary pool, used to check job-level fields when the pools arrive at run time."""
    return WorkerPoolSpec(MachineSpec("n1-standard-4"), ContainerSpec("stand-in"))


def check_custom_job(c: TaskCheck) -> None:
    """GCPC `CustomTrainingJobOp` (or its twin): pools, scheduling, job fields, the whole job."""
    pools = check_worker_pools(c)
    scheduling = _scheduling(c)
    job = _job_fields(c, JOB_FIELDS)
    _display_name(c)
    if pools is not None and scheduling is not None and job is not None:
        c.attempt(lambda: CustomJobSpec.from_worker_pool_specs(pools, scheduling=scheduling, **job))


def check_worker_pools(c: TaskCheck, name: str = "worker_pool_specs") -> list | None:
    """`worker_pool_specs` against `aiplatform_v1.WorkerPoolSpec` and the role rules; warns
    when GCPC's launcher would move a pool to another role by dropping an empty one."""
    raw = c.known(name)
    if raw is None:
        return None
    ok, _ = c.attempt(validate_worker_pool_specs, raw)
    if not ok:
        return None
    _warn_dropped_pools(c, raw)
    return parse_worker_pool_specs(raw)


def _warn_dropped_pools(c: TaskCheck, raw: Sequence[Any]) -> None:
    from vtp.local.twins.custom_job_runtime import launcher_payload

    sent = launcher_payload({"job_spec": {"worker_pool_specs": list(raw)}})
    kept = (sent.get("job_spec") or {}).get("worker_pool_specs") or []
    used = [i for i, pool in enumerate(raw) if pool]
    for new, old in enumerate(used[: len(kept)]):
        if new != old:
            c.warning(
                f"worker_pool_specs[{old}] ({ROLES[old]}) reaches Vertex as "
                f"worker_pool_specs[{new}] ({ROLES[new]}): GCPC's launcher removes the empty "
                "pools before it, so their roles shift; give those pools a spec instead of {}"
            )


def _scheduling(c: TaskCheck) -> Scheduling | None:
    values = {k: v for k, v in known_values(c, SCHEDULING_FIELDS).items() if v != ""}
    if values.get("strategy") != "FLEX_START":
        values.pop("max_wait_duration", None)  # GCPC's launcher drops it unless FLEX_START
    if not values:
        return Scheduling()
    ok, scheduling = c.attempt(lambda: Scheduling(**values))
    return scheduling if ok else None


def _job_fields(c: TaskCheck, names: Sequence[str]) -> dict[str, Any] | None:
    """The known job-level fields, checked by a `CustomJobSpec` around a stand-in pool."""
    values = known_values(c, [n for n in names if c.task.input_definition(n) is not None])
    if "reserved_ip_ranges" in values and "network" not in values:
        values.pop("reserved_ip_ranges")  # needs the network, which is known only at run time
    if not values:
        return values
    ok, _ = c.attempt(lambda: CustomJobSpec(primary=stand_in_pool(), **values))
    return values if ok else None


def _display_name(c: TaskCheck) -> None:
    name = c.known("display_name")
    if name is not None:
        c.attempt(lambda: CustomJobSpec(primary=stand_in_pool()).to_custom_job(name))


def check_worker_pools_input(c: TaskCheck) -> None:
    """Any other component's `worker_pool_specs` input, when the YAML fixes it."""
    if c.value("worker_pool_specs").known:
        check_worker_pools(c)


# --- tuning jobs --------------------------------------------------------------------------------


def check_tuning_job(c: TaskCheck) -> None:
    """GCPC `HyperparameterTuningJobRunOp` (or its twin): study, trial counts, trial pools."""
    from vtp.components.tuning.study import StudySpec, TuningJobSpec

    check_worker_pools(c)
    _job_fields(c, TUNING_JOB_FIELDS)
    _display_name(c)
    raw = {name: c.known(name) for name in STUDY_INPUTS}
    study = None
    if all(value is not None for value in raw.values()):
        data = {STUDY_INPUTS[k]: v for k, v in raw.items() if v != ""}

        def build() -> StudySpec:
            spec = StudySpec.from_dict(data)
            spec.validate()
            return spec

        rename = _study_renamer(raw["study_spec_parameters"], raw["study_spec_metrics"])
        _, study = c.attempt(build, rename=rename)
    counts = known_values(c, TRIAL_COUNTS)
    parallel = counts.get("parallel_trial_count", 1)
    stand_in = {
        "max_trial_count": parallel if isinstance(parallel, int) and parallel > 0 else 1,
        "parallel_trial_count": 1,
        "max_failed_trial_count": 0,
    }
    ok, job = c.attempt(
        lambda: TuningJobSpec(study=study or _stand_in_study(), **{**stand_in, **counts})
    )
    if ok and study is not None and len(counts) == len(TRIAL_COUNTS):
        c.attempt(job.validate)


@cache
def _stand_in_study():
    from vtp.components.tuning.study import DoubleParameter, MetricSpec, StudySpec

    return StudySpec([MetricSpec("m", "MAXIMIZE")], [DoubleParameter("p", 0.0, 1.0)])


_STUDY_ROOTS = (
    ("study_spec.metrics", "study_spec_metrics"),
    ("study_spec.parameters", "study_spec_parameters"),
    ("study_spec.algorithm", "study_spec_algorithm"),
    ("study_spec.measurement_selection_type", "study_spec_measurement_selection_type"),
    ("study_spec.primary_metric", "study_spec_metrics"),
)
_PARAMETER_LEAVES = {
    "min_value": None,
    "max_value": None,
    "values": None,
    "scale": "scale_type",
    "conditional_parameters": "conditional_parameter_specs",
}


def _study_renamer(parameters: object, metrics: object):
    """Maps the study builders' field names onto the op's inputs: `study_spec.parameters[0]...`
    and `parameters.<id>.min_value` -> `study_spec_parameters[0].double_value_spec.min_value`."""
    params = list(parameters) if isinstance(parameters, list) else []
    ids = [
        p.get("parameter_id", p.get("parameterId")) if isinstance(p, Mapping) else None
        for p in params
    ]
    metric_ids = [
        m.get("metric_id", m.get("metricId")) if isinstance(m, Mapping) else None
        for m in (metrics if isinstance(metrics, list) else [])
    ]

    def rename(field: str) -> str:
        for old, new in _STUDY_ROOTS:
            if field == old or field.startswith((old + ".", old + "[")):
                return new + field[len(old) :]
        if field.startswith("metrics."):
            for i, mid in enumerate(metric_ids):
                if isinstance(mid, str) and field.startswith(f"metrics.{mid}."):
                    return f"study_spec_metrics[{i}]" + field[len(f"metrics.{mid}") :]
            return "study_spec_" + field
        if field.startswith("parameters."):
            return _parameter_field(field, params, ids)
        return field

    return rename


def _parameter_field(field: str, params: list, ids: list) -> str:
    for i, pid in sorted(enumerate(ids), key=lambda x: -len(str(x[1]))):
        prefix = f"parameters.{pid}."
        if not isinstance(pid, str) or not field.startswith(prefix):
            continue
        rest = field[len(prefix) :]
        head = re.match(r"\w+", rest)
        leaf = head[0] if head else ""
        if leaf in _PARAMETER_LEAVES:
            renamed = _PARAMETER_LEAVES[leaf]
            if renamed is None:
                kind = next((k for k in params[i] if str(k).endswith("value_spec")), "")
                renamed = f"{kind}.{leaf}" if kind else leaf
            rest = renamed + rest[len(leaf) :]
        return f"study_spec_parameters[{i}].{rest}"
    return "study_spec_" + field


# --- vtp's training_job_spec component -----------------------------------------------------------


def check_job_spec_component(c: TaskCheck) -> None:
    """vtp's `training_job_spec`: the payload it will build, from the inputs the YAML fixes
    (as `vtp run` checks parameters before a run)."""
    from vtp.components.training.payload import training_job
    from vtp.components.training.trainer import trainer_from_values

    values = {name: c.known(name) for name in JOB_SPEC_INPUTS}
    staging = c.value("staging_root")
    if any(value is None for value in values.values()):
        return
    base = "gs://pipeline-root/job"  # the pipeline root, known at run time
    if staging.known and staging.value:
        c.values["staging_root"] = staging
        base = f"{str(staging.value).rstrip('/')}/job"
    c.attempt(
        lambda: training_job(
            trainer=trainer_from_values(values),
            machine_type=values["machine_type"],
            accelerator_type=values["accelerator_type"],
            accelerator_count=_count(values["accelerator_count"]),
            hyperparameters=values["hyperparameters"],
            base_output_directory=base,
            timeout=values["timeout"],
        ),
        rename=_job_spec_field,
    )


def _count(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _job_spec_field(field: str) -> str:
    for old, new in _JOB_SPEC_FIELDS.items():
        if field == old or field.startswith((old + ".", old + "[")):
            return new + field[len(old) :]
    return field
