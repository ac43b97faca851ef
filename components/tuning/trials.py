"""Trials as JSON, the best trial, its hyperparameters and worker pools that use them.

A trial is JSON in the shape the SDK's `Trial.to_json` gives (`google.cloud.aiplatform_v1`):
camelCase keys, int64 as strings, enums as numbers, default fields present:
`{"id": "3", "state": 4, "parameters": [{"parameterId": "lr", "value": 0.01}],
"finalMeasurement": {"stepCount": "10", "metrics": [{"metricId": "loss", "value": 0.5}]}, ...}`.
Parameter values are protobuf doubles or strings, so an integer arrives as `64.0`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from vtp.components.specs.parse import parse_worker_pool_specs
from vtp.components.tuning.study import GOALS, StudySpec, check_parameter_id
from vtp.errors import SpecError, VtpError

#: `google.cloud.aiplatform_v1.Trial.State` names -> numbers (a test keeps them equal).
STATES: dict[str, int] = {
    "STATE_UNSPECIFIED": 0,
    "REQUESTED": 1,
    "ACTIVE": 2,
    "STOPPING": 3,
    "SUCCEEDED": 4,
    "INFEASIBLE": 5,
}

Value = float | str
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_CAMEL = re.compile(r"_([a-z])")


class NoSucceededTrialError(VtpError, RuntimeError):
    """No trial succeeded with a value of the metric the best trial is chosen by."""


def _state(field: str, value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value in STATES:
        return STATES[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in STATES.values():
        return value
    raise SpecError(field, value, f"must be one of {', '.join(STATES)} or its number")


def _double(field: str, value: object) -> float | str:
    """A double as proto JSON writes it: a number, or "NaN"/"Infinity"/"-Infinity"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(field, value, "must be a number")
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def _parameter_value(field: str, value: object) -> Value:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(field, value, "must be a finite number or a string")
    return float(value)


def trial_to_json(
    trial_id: str | int,
    state: str | int,
    parameters: Mapping[str, Value | int],
    final_measurement: Mapping[str, float] | None = None,
    step: int = 0,
    *,
    infeasible_reason: str = "",
) -> str:
    """A trial as `Trial.to_json` writes it (compact).

    Args:
        trial_id: the trial id (Vertex numbers trials "1", "2", ...).
        state: a `STATES` name or number: SUCCEEDED with a final measurement, INFEASIBLE
            without one.
        parameters: `{parameter_id: value}`; numbers are written as doubles.
        final_measurement: `{metric_id: value}`, or None.
        step: the step of the final measurement.
        infeasible_reason: why the trial is INFEASIBLE.
    """
    if isinstance(trial_id, bool) or not isinstance(trial_id, str | int) or trial_id == "":
        raise SpecError("trial.id", trial_id, "must be a non-empty string or an int")
    out: dict[str, Any] = {
        "id": str(trial_id),
        "state": _state("trial.state", state),
        "parameters": [
            {
                "parameterId": check_parameter_id("trial.parameters", pid),
                "value": _parameter_value(f"trial.parameters[{pid!r}]", value),
            }
            for pid, value in parameters.items()
        ],
    }
    if final_measurement is not None:
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise SpecError("trial.final_measurement.step_count", step, "must be an integer >= 0")
        metrics = [
            {"metricId": mid, "value": _double(f"trial.final_measurement[{mid!r}]", value)}
            for mid, value in final_measurement.items()
        ]
        out["finalMeasurement"] = {"stepCount": str(step), "metrics": metrics}
    if not isinstance(infeasible_reason, str):
        raise SpecError("trial.infeasible_reason", infeasible_reason, "must be a string")
    out.update(
        name="",
        measurements=[],
        clientId="",
        infeasibleReason=infeasible_reason,
        customJob="",
        webAccessUris={},
    )
    return json.dumps(out)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            _CAMEL.sub(lambda m: m[1].upper(), str(k)): _camel_keys(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def parse_trial(data: str | Mapping[str, Any]) -> dict[str, Any]:
    """A trial JSON string (or dict) in the `Trial.to_json` shape, checked and normalised.

    Keys may be camelCase or snake_case, `state` a name or a number, `stepCount` a string or a
    number; the result has camelCase keys, `state` as a number, `id` and `stepCount` as strings.

    Raises:
        SpecError: naming the field that is not a trial's.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as err:
            raise SpecError("trial", data, f"must be JSON ({err})") from None
    if not isinstance(data, Mapping):
        raise SpecError("trial", data, "must be a JSON object")
    trial = _camel_keys(data)
    if "id" not in trial:
        raise SpecError("trial.id", None, "is required")
    trial["id"] = str(trial["id"])
    trial["state"] = _state("trial.state", trial.get("state", 0))
    parameters = trial.get("parameters", [])
    if not isinstance(parameters, list):
        raise SpecError("trial.parameters", parameters, "must be a list")
    for i, parameter in enumerate(parameters):
        if not isinstance(parameter, Mapping) or "parameterId" not in parameter:
            raise SpecError(f"trial.parameters[{i}]", parameter, "must hold a parameterId")
    trial["parameters"] = parameters
    measurement = trial.get("finalMeasurement")
    if measurement is not None:
        if not isinstance(measurement, Mapping) or not isinstance(
            measurement.get("metrics", []), list
        ):
            raise SpecError("trial.final_measurement", measurement, "must hold a metrics list")
        step = measurement.get("stepCount", "0")
        if not re.fullmatch(r"\d+", str(step).removesuffix(".0")):
            raise SpecError("trial.final_measurement.step_count", step, "must be an integer")
        measurement["stepCount"] = str(step).removesuffix(".0")
        measurement.setdefault("metrics", [])
        for i, metric in enumerate(measurement["metrics"]):
            if not isinstance(metric, Mapping) or "metricId" not in metric:
                raise SpecError(
                    f"trial.final_measurement.metrics[{i}]", metric, "must hold a metricId"
                )
    return trial


def trial_state(trial: Mapping[str, Any]) -> str:
    """The state name of a parsed trial."""
    return next(name for name, number in STATES.items() if number == trial["state"])


def trial_metrics(trial: Mapping[str, Any]) -> dict[str, float]:
    """`{metric_id: value}` of a parsed trial's final measurement (empty without one)."""
    measurement = trial.get("finalMeasurement") or {}
    out = {}
    for metric in measurement.get("metrics", []):
        value = metric.get("value", 0.0)
        out[metric["metricId"]] = _SPECIAL.get(value, value) if isinstance(value, str) else value
    return out


def _id_order(trial: Mapping[str, Any]) -> tuple[int, int, str]:
    tid = trial["id"]
    return (0, int(tid), "") if tid.isdigit() else (1, 0, tid)


def best_trial(
    trials_json: Sequence[str | Mapping[str, Any]], study: StudySpec | tuple[str, str]
) -> dict[str, Any]:
    """The SUCCEEDED trial with the best value of the primary metric.

    Args:
        trials_json: trials as `Trial.to_json` strings (or dicts).
        study: the `StudySpec` (its primary metric) or `(metric_id, goal)`.

    Returns:
        The parsed trial (`parse_trial`). Of equal values, the lowest trial id wins. Trials in
        another state, without the metric or with a NaN value are skipped.

    Raises:
        NoSucceededTrialError: when no trial qualifies; the message counts trials by state.
    """
    if isinstance(study, StudySpec):
        metric_id, goal = study.primary.metric_id, study.primary.goal
    else:
        metric_id, goal = study
        if goal not in GOALS:
            raise SpecError("goal", goal, f"must be one of {', '.join(GOALS)}")
    if isinstance(trials_json, str | bytes) or not isinstance(trials_json, Sequence):
        raise SpecError("trials", trials_json, "must be a list of trial JSON strings")
    sign = 1.0 if goal == "MAXIMIZE" else -1.0
    counts: Counter[str] = Counter()
    best: dict[str, Any] | None = None
    best_key: tuple[float, tuple[int, int, str]] | None = None
    for raw in trials_json:
        trial = parse_trial(raw)
        state = trial_state(trial)
        value = trial_metrics(trial).get(metric_id)
        if state != "SUCCEEDED":
            counts[state] += 1
            continue
        if value is None or math.isnan(value):
            counts[f"SUCCEEDED without {metric_id!r}"] += 1
            continue
        counts[state] += 1
        key = (-sign * value, _id_order(trial))
        if best_key is None or key < best_key:
            best, best_key = trial, key
    if best is None:
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"
        raise NoSucceededTrialError(
            f"no trial SUCCEEDED with a value of metric {metric_id!r} to {goal.lower()} "
            f"({len(trials_json)} trials: {summary})"
        )
    return best


def best_hyperparameters(trial: str | Mapping[str, Any]) -> dict[str, Value]:
    """`{parameter_id: value}` of a trial (numbers as the doubles Vertex gives)."""
    parsed = parse_trial(trial)
    return {p["parameterId"]: p.get("value") for p in parsed["parameters"]}


def format_value(value: Value | int) -> str:
    """A parameter value as a trainer argument: numbers as doubles (`64.0`, `0.001`), as
    Vertex passes trial values and GCPC's former `GetWorkerPoolSpecsOp` wrote them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError("hyperparameter", value, "must be a finite number or a string")
    return str(float(value))


def _without_flag(args: Sequence[str], flag: str) -> list[str]:
    """`args` without `--flag=value`, `--flag value` and a bare `--flag`."""
    out: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
            if not arg.startswith("--"):
                continue
        if arg == flag:
            skip_value = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return out


def apply_hyperparameters(
    worker_pool_specs: Sequence[Mapping[str, Any]], params: Mapping[str, Value | int]
) -> list[dict[str, Any]]:
    """The pools with `--<id>=<value>` appended to every pool's args, replacing earlier values.

    Earlier `--id=old` and `--id old` arguments of the same flags are removed, so applying twice
    gives the same pools. Pools are checked (`parse_worker_pool_specs`) and returned as the
    builders write them; unused pools stay `{}`.

    Raises:
        SpecError: naming the pool field or parameter that is refused.
    """
    if not isinstance(params, Mapping):
        raise SpecError("hyperparameters", params, "must be a mapping of parameter ids to values")
    extra = [
        f"--{check_parameter_id('hyperparameters', pid)}={format_value(value)}"
        for pid, value in params.items()
    ]
    out: list[dict[str, Any]] = []
    for pool in parse_worker_pool_specs(worker_pool_specs):
        if pool is None:
            out.append({})
            continue
        args = list(pool.runnable.args)
        for pid in params:
            args = _without_flag(args, f"--{pid}")
        runnable = dataclasses.replace(pool.runnable, args=[*args, *extra])
        field = "container_spec" if pool.container_spec is not None else "python_package_spec"
        out.append(dataclasses.replace(pool, **{field: runnable}).to_dict())
    return out
