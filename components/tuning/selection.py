"""The rules behind the trial components: study metrics, best hyperparameters, model dirs.

`study_spec_metrics` is what GCPC's `HyperparameterTuningJobRunOp` takes (GCPC's
`serialize_metrics`): `[{"metric_id": "auc", "goal": 1}]`, goals as numbers (1 MAXIMIZE,
2 MINIMIZE) or names, keys snake_case or camelCase. The first metric is the primary one: the
best trial is chosen by it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from vtp.components.specs._validate import snake
from vtp.components.tuning.study import GOALS, MetricSpec, check_parameter_id
from vtp.components.tuning.trials import Value, parse_trial, trial_metrics
from vtp.errors import SpecError

#: Fields of a `StudySpec.MetricSpec`; `safety_config` is accepted and ignored.
_METRIC_FIELDS = ("metric_id", "goal", "safety_config")
_GOAL_ALLOWED = "must be MAXIMIZE or MINIMIZE (any case) or its number (1, 2)"


def _goal(field: str, value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in GOALS.items():
            if number == value:
                return name
    if isinstance(value, str) and value.strip().upper() in GOALS:
        return value.strip().upper()
    raise SpecError(field, value, _GOAL_ALLOWED)


def parse_study_metrics(study_spec_metrics: Sequence[Mapping[str, Any]]) -> list[MetricSpec]:
    """The metrics of `study_spec_metrics`, primary first.

    Raises:
        SpecError: naming the entry or field that is not a metric spec.
    """
    root = "study_spec_metrics"
    if isinstance(study_spec_metrics, str | bytes) or not isinstance(study_spec_metrics, Sequence):
        raise SpecError(root, study_spec_metrics, 'must be a list of {"metric_id", "goal"}')
    if not study_spec_metrics:
        raise SpecError(root, [], "must hold at least one metric (the first is the primary)")
    metrics: list[MetricSpec] = []
    for i, item in enumerate(study_spec_metrics):
        field = f"{root}[{i}]"
        item = _entry(field, item, '{"metric_id", "goal"}')
        fields = {snake(str(k)): v for k, v in item.items()}
        unknown = sorted(set(fields) - set(_METRIC_FIELDS))
        if unknown:
            raise SpecError(field, unknown, f"fields must be among {', '.join(_METRIC_FIELDS)}")
        for name in ("metric_id", "goal"):
            if name not in fields:
                raise SpecError(f"{field}.{name}", None, "is required")
        metric = MetricSpec(fields["metric_id"], _goal(f"{field}.goal", fields["goal"]))
        if any(m.metric_id == metric.metric_id for m in metrics):
            raise SpecError(f"{field}.metric_id", metric.metric_id, "must be unique")
        metrics.append(metric)
    return metrics


def primary_metric(study_spec_metrics: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """`(metric_id, goal)` of the primary (first) metric; goal is MAXIMIZE or MINIMIZE."""
    first = parse_study_metrics(study_spec_metrics)[0]
    return first.metric_id, first.goal


def trial_metric_value(trial: str | Mapping[str, Any], metric_id: str) -> float:
    """The trial's final value of `metric_id`; NaN when it has none (e.g. INFEASIBLE)."""
    value = trial_metrics(parse_trial(trial)).get(metric_id)
    return math.nan if value is None else float(value)


def hyperparameter_list(trial: str | Mapping[str, Any]) -> list[dict[str, Value]]:
    """`[{"parameterId": id, "value": v}]` of a trial, in the trial's order."""
    return [
        {"parameterId": p["parameterId"], "value": p.get("value")}
        for p in parse_trial(trial)["parameters"]
    ]


def hyperparameters_from_list(items: Sequence[Any]) -> dict[str, Value]:
    """`{parameter_id: value}` from `hyperparameter_list` output.

    Entries may also be `Trial.Parameter` JSON strings, which GCPC's former
    `GetBestHyperparametersOp` returned, and keys snake_case.

    Raises:
        SpecError: naming the entry that is not a parameter, or a repeated parameter id.
    """
    root = "best_hyperparameters"
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise SpecError(root, items, 'must be a list of {"parameterId", "value"}')
    out: dict[str, Value] = {}
    for i, item in enumerate(items):
        field = f"{root}[{i}]"
        item = _entry(field, item, '{"parameterId", "value"}')
        fields = {snake(str(k)): v for k, v in item.items()}
        if set(fields) != {"parameter_id", "value"}:
            raise SpecError(field, item, 'must hold exactly "parameterId" and "value"')
        pid = check_parameter_id(f"{field}.parameterId", fields["parameter_id"])
        if pid in out:
            raise SpecError(f"{field}.parameterId", pid, "must not repeat an earlier parameter")
        out[pid] = fields["value"]
    return out


def trial_model_dir(base_output_directory: str, trial_id: str) -> str:
    """`<base>/<trial_id>/model/`, where a tuning trial's `AIP_MODEL_DIR` points.

    Raises:
        SpecError: for an empty base directory or trial id.
    """
    if not isinstance(base_output_directory, str) or not base_output_directory.strip("/ "):
        raise SpecError(
            "base_output_directory", base_output_directory, "must be a non-empty directory URI"
        )
    if not isinstance(trial_id, str) or not trial_id or "/" in trial_id:
        raise SpecError("trial.id", trial_id, "must be a non-empty id without '/'")
    return f"{base_output_directory.rstrip('/')}/{trial_id}/model/"


def _entry(field: str, item: object, shape: str) -> Mapping:
    """A list entry given as a mapping or as its JSON (as KFP may pass it)."""
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except ValueError:
            raise SpecError(field, item, "must be a mapping or its JSON") from None
    if not isinstance(item, Mapping):
        raise SpecError(field, item, f"must be a mapping {shape}")
    return item
