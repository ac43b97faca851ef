"""Hypertune metrics files, trial JSON, best trial and best hyperparameters in worker pools."""

from __future__ import annotations

import json
import math

import hypertune
import pytest

from vtp.components.tuning.hypertune_file import Report, final_measurement, read_reports
from vtp.components.tuning.study import DoubleParameter, MetricSpec, StudySpec
from vtp.components.tuning.trials import (
    STATES,
    NoSucceededTrialError,
    apply_hyperparameters,
    best_hyperparameters,
    best_trial,
    format_value,
    parse_trial,
    trial_metrics,
    trial_state,
    trial_to_json,
)
from vtp.errors import DataError, SpecError

# --- hypertune metrics file ---------------------------------------------------------------------


@pytest.fixture
def metrics_file(tmp_path, monkeypatch):
    path = tmp_path / "hypertune" / "output.metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(path))
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "3")
    return path


def test_reads_what_hypertune_writes(metrics_file):
    reporter = hypertune.HyperTune()
    for step, value in enumerate([0.5, 0.9, 0.7], start=1):
        reporter.report_hyperparameter_tuning_metric("accuracy", value, global_step=step)
    reporter.report_hyperparameter_tuning_metric("loss", 0.1, global_step=4)
    first = json.loads(metrics_file.read_text().splitlines()[0])
    assert first["trial"] == "3" and first["accuracy"] == "0.5" and first["global_step"] == "1"
    reports = read_reports(metrics_file, "accuracy")
    assert [(r.step, r.value) for r in reports] == [(1, 0.5), (2, 0.9), (3, 0.7)]
    assert all(isinstance(r.timestamp, float) and r.timestamp > 0 for r in reports)
    assert read_reports(metrics_file, "loss") == [
        Report(4, 0.1, json.loads(metrics_file.read_text().splitlines()[3])["timestamp"])
    ]


def test_only_the_last_100_reports_survive(metrics_file):
    reporter = hypertune.HyperTune()
    for step in range(150):
        reporter.report_hyperparameter_tuning_metric("loss", 1.0 / (step + 1), global_step=step)
    reports = read_reports(metrics_file, "loss")
    assert len(reports) == 100
    assert [r.step for r in reports] == list(range(50, 150))
    # the best value ever reported (step 149 here) survives; an early best would not
    reporter = hypertune.HyperTune()
    reporter.report_hyperparameter_tuning_metric("acc", 0.99, global_step=1)
    for step in range(2, 120):
        reporter.report_hyperparameter_tuning_metric("acc", 0.5, global_step=step)
    reports = read_reports(metrics_file, "acc")
    assert len(reports) == 100 and 0.99 not in [r.value for r in reports]
    assert final_measurement(reports, "BEST_MEASUREMENT", "MAXIMIZE").value == 0.5


def test_step_defaults_to_zero(metrics_file):
    hypertune.HyperTune().report_hyperparameter_tuning_metric("acc", 0.25)
    assert [(r.step, r.value) for r in read_reports(metrics_file, "acc")] == [(0, 0.25)]


def test_last_and_best_measurement_by_goal():
    reports = [Report(1, 0.4, 1.0), Report(2, 0.8, 2.0), Report(3, 0.2, 3.0), Report(4, 0.6, 4.0)]
    assert final_measurement(reports, "LAST_MEASUREMENT", "MAXIMIZE") == reports[3]
    assert final_measurement(reports, "LAST_MEASUREMENT", "MINIMIZE") == reports[3]
    assert final_measurement(reports, "BEST_MEASUREMENT", "MAXIMIZE") == reports[1]
    assert final_measurement(reports, "BEST_MEASUREMENT", "MINIMIZE") == reports[2]
    tie = [Report(1, 0.8, 1.0), Report(2, 0.8, 2.0)]
    assert final_measurement(tie, "BEST_MEASUREMENT", "MAXIMIZE") == tie[0]
    with_nan = [*reports, Report(5, math.nan, 5.0)]
    assert final_measurement(with_nan, "LAST_MEASUREMENT", "MAXIMIZE") == reports[3]
    assert final_measurement(with_nan, "BEST_MEASUREMENT", "MINIMIZE") == reports[2]


def test_missing_tag_or_file_is_infeasible(metrics_file, tmp_path):
    assert read_reports(tmp_path / "absent.metrics", "acc") == []
    hypertune.HyperTune().report_hyperparameter_tuning_metric("loss", 0.3, global_step=1)
    reports = read_reports(metrics_file, "accuracy")
    assert reports == []
    assert final_measurement(reports, "BEST_MEASUREMENT", "MAXIMIZE") is None
    assert final_measurement([Report(1, math.nan, 1.0)], "LAST_MEASUREMENT", "MAXIMIZE") is None


def test_partial_last_line_is_skipped_corrupt_middle_line_is_not(metrics_file):
    reporter = hypertune.HyperTune()
    for step in range(1, 4):
        reporter.report_hyperparameter_tuning_metric("acc", step / 10, global_step=step)
    text = metrics_file.read_text()
    metrics_file.write_text(text[: len(text) - 25])  # the rewrite caught mid-line
    assert [r.step for r in read_reports(metrics_file, "acc")] == [1, 2]
    lines = text.splitlines()
    metrics_file.write_text("\n".join([lines[0], lines[1][:20], lines[2]]) + "\n")
    with pytest.raises(DataError, match="line 2 is not a hypertune report"):
        read_reports(metrics_file, "acc")


def test_final_measurement_refuses_unknown_selection():
    with pytest.raises(SpecError, match="measurement_selection must be one of"):
        final_measurement([], "BEST", "MAXIMIZE")
    with pytest.raises(SpecError, match="goal must be one of MAXIMIZE, MINIMIZE"):
        final_measurement([], "LAST_MEASUREMENT", "maximize")


# --- trial JSON ---------------------------------------------------------------------------------


def test_trial_json_is_what_the_sdk_writes():
    from google.cloud.aiplatform_v1.types import Trial

    s = trial_to_json(
        3, "SUCCEEDED", {"lr": 0.01, "units": 64, "act": "relu"}, {"loss": 0.5, "acc": 0.9}, 10
    )
    proto = Trial.from_json(s)
    assert proto.id == "3"
    assert proto.state == Trial.State.SUCCEEDED
    assert [(p.parameter_id, p.value) for p in proto.parameters] == [
        ("lr", 0.01),
        ("units", 64.0),
        ("act", "relu"),
    ]
    assert proto.final_measurement.step_count == 10
    assert [(m.metric_id, m.value) for m in proto.final_measurement.metrics] == [
        ("loss", 0.5),
        ("acc", 0.9),
    ]
    assert json.loads(Trial.to_json(proto)) == json.loads(s)
    assert json.loads(s)["finalMeasurement"]["stepCount"] == "10"
    assert json.loads(s)["parameters"][1] == {"parameterId": "units", "value": 64.0}


def test_infeasible_trial_json():
    from google.cloud.aiplatform_v1.types import Trial

    s = trial_to_json("7", 5, {"lr": 0.1}, None, infeasible_reason="no metric reported")
    proto = Trial.from_json(s)
    assert proto.state == Trial.State.INFEASIBLE
    assert proto.infeasible_reason == "no metric reported"
    assert "finalMeasurement" not in json.loads(s)
    assert json.loads(Trial.to_json(proto)) == json.loads(s)
    nan = trial_to_json(8, "SUCCEEDED", {}, {"loss": math.nan, "gain": math.inf}, 1)
    proto = Trial.from_json(nan)
    assert math.isnan(proto.final_measurement.metrics[0].value)
    assert json.loads(Trial.to_json(proto)) == json.loads(nan)
    assert math.isnan(trial_metrics(parse_trial(nan))["loss"])
    assert trial_metrics(parse_trial(nan))["gain"] == math.inf


def test_states_match_aiplatform_v1_enum():
    from google.cloud.aiplatform_v1.types import Trial

    assert {s.name: s.value for s in Trial.State} == STATES


def test_parse_trial_round_trip_and_other_spellings():
    s = trial_to_json(2, "SUCCEEDED", {"lr": 0.5}, {"loss": 0.25}, 4)
    parsed = parse_trial(s)
    assert parsed == json.loads(s)
    assert trial_state(parsed) == "SUCCEEDED"
    assert trial_metrics(parsed) == {"loss": 0.25}
    snake = {
        "id": 2,
        "state": "SUCCEEDED",
        "parameters": [{"parameter_id": "lr", "value": 0.5}],
        "final_measurement": {"step_count": 4, "metrics": [{"metric_id": "loss", "value": 0.25}]},
    }
    again = parse_trial(snake)
    assert again["state"] == 4 and again["id"] == "2"
    assert again["finalMeasurement"] == {
        "stepCount": "4",
        "metrics": [{"metricId": "loss", "value": 0.25}],
    }


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: trial_to_json(1, "DONE", {}), "trial.state"),
        (lambda: trial_to_json(1, 9, {}), "trial.state"),
        (lambda: trial_to_json("", 4, {}), "trial.id"),
        (lambda: trial_to_json(1, 4, {"a b": 1}), "trial.parameters"),
        (lambda: trial_to_json(1, 4, {"a": True}), "trial.parameters['a']"),
        (lambda: trial_to_json(1, 4, {"a": math.nan}), "trial.parameters['a']"),
        (lambda: trial_to_json(1, 4, {}, {"m": "x"}), "trial.final_measurement['m']"),
        (lambda: trial_to_json(1, 4, {}, {"m": 1.0}, -1), "trial.final_measurement.step_count"),
        (lambda: parse_trial("{not json"), "trial"),
        (lambda: parse_trial("[1]"), "trial"),
        (lambda: parse_trial({"state": 4}), "trial.id"),
        (lambda: parse_trial({"id": "1", "parameters": [{"value": 1}]}), "trial.parameters[0]"),
    ],
)
def test_trial_refusals(build, field):
    with pytest.raises(SpecError) as err:
        build()
    assert err.value.field == field


# --- best trial ---------------------------------------------------------------------------------


def trials_for_best() -> list[str]:
    return [
        trial_to_json(1, "SUCCEEDED", {"lr": 0.1}, {"acc": 0.80, "loss": 0.30}, 5),
        trial_to_json(2, "INFEASIBLE", {"lr": 0.2}, None, infeasible_reason="job failed"),
        trial_to_json(3, "SUCCEEDED", {"lr": 0.3}, {"acc": 0.95, "loss": 0.40}, 5),
        trial_to_json(4, "SUCCEEDED", {"lr": 0.4}, {"loss": 0.05}, 5),  # no acc
        trial_to_json(5, "ACTIVE", {"lr": 0.5}, {"acc": 0.99, "loss": 0.01}, 2),
        trial_to_json(6, "SUCCEEDED", {"lr": 0.6}, {"acc": math.nan, "loss": 0.5}, 5),
        trial_to_json(7, "STOPPING", {"lr": 0.7}, {"acc": 0.999}, 1),
    ]


def test_best_trial_maximize_skips_infeasible_active_and_missing():
    best = best_trial(trials_for_best(), ("acc", "MAXIMIZE"))
    assert best["id"] == "3"
    assert best_hyperparameters(best) == {"lr": 0.3}


def test_best_trial_minimize():
    assert best_trial(trials_for_best(), ("loss", "MINIMIZE"))["id"] == "4"


def test_best_trial_multi_metric_by_primary():
    params = [DoubleParameter("lr", 0.0, 1.0)]
    acc, loss = MetricSpec("acc", "MAXIMIZE"), MetricSpec("loss", "MINIMIZE")
    assert best_trial(trials_for_best(), StudySpec([acc, loss], params))["id"] == "3"
    by_loss = StudySpec([acc, loss], params, primary_metric="loss")
    assert best_trial(trials_for_best(), by_loss)["id"] == "4"


def test_ties_go_to_the_lowest_trial_id():
    trials = [
        trial_to_json(12, "SUCCEEDED", {"lr": 0.12}, {"acc": 0.9}, 1),
        trial_to_json(3, "SUCCEEDED", {"lr": 0.3}, {"acc": 0.9}, 1),
        trial_to_json(10, "SUCCEEDED", {"lr": 0.10}, {"acc": 0.9}, 1),
        trial_to_json(4, "SUCCEEDED", {"lr": 0.4}, {"acc": 0.1}, 1),
    ]
    assert best_trial(trials, ("acc", "MAXIMIZE"))["id"] == "3"
    assert best_trial(trials, ("acc", "MINIMIZE"))["id"] == "4"


def test_no_succeeded_trial_counts_states():
    trials = [
        trial_to_json(1, "INFEASIBLE", {"lr": 0.1}, None),
        trial_to_json(2, "INFEASIBLE", {"lr": 0.2}, None),
        trial_to_json(3, "SUCCEEDED", {"lr": 0.3}, {"loss": 0.2}, 1),
        trial_to_json(4, "ACTIVE", {"lr": 0.4}, None),
    ]
    with pytest.raises(NoSucceededTrialError) as err:
        best_trial(trials, ("acc", "MAXIMIZE"))
    message = str(err.value)
    assert "no trial SUCCEEDED with a value of metric 'acc' to maximize" in message
    assert "4 trials: 1 ACTIVE, 2 INFEASIBLE, 1 SUCCEEDED without 'acc'" in message
    with pytest.raises(NoSucceededTrialError, match=r"\(0 trials: none\)"):
        best_trial([], ("acc", "MAXIMIZE"))


def test_best_trial_reads_sdk_json_and_dicts():
    from google.cloud.aiplatform_v1.types import Trial

    sdk = Trial.to_json(
        Trial(
            id="9",
            state=Trial.State.SUCCEEDED,
            parameters=[Trial.Parameter(parameter_id="units", value=64)],
            final_measurement={"step_count": 3, "metrics": [{"metric_id": "acc", "value": 0.7}]},
        )
    )
    assert "\n" in sdk  # the SDK pretty-prints
    mixed = [sdk, json.loads(trial_to_json(2, 4, {"units": 8}, {"acc": 0.6}, 3))]
    best = best_trial(mixed, ("acc", "MAXIMIZE"))
    assert best["id"] == "9"
    assert best_hyperparameters(sdk) == {"units": 64.0}
    with pytest.raises(SpecError, match="goal must be one of"):
        best_trial(mixed, ("acc", "up"))


# --- best hyperparameters into worker pools -----------------------------------------------------

MACHINE = {"machine_type": "n1-standard-4"}


def container_pool(args: list[str], replicas: int | float = 1) -> dict:
    return {
        "machine_spec": MACHINE,
        "replica_count": replicas,
        "container_spec": {"image_uri": "trainer:1", "args": args},
    }


def test_apply_appends_and_replaces_both_flag_forms():
    pools = [
        container_pool(["--epochs=3", "--lr", "0.5", "--units=8", "--verbose", "--lr=0.7"]),
        {},
        {
            "machine_spec": MACHINE,
            "replica_count": 2.0,
            "python_package_spec": {
                "executor_image_uri": "python:3.11",
                "package_uris": ["gs://b/trainer.tar.gz"],
                "python_module": "trainer.task",
            },
        },
    ]
    original = json.dumps(pools)
    params = {"lr": 0.01, "units": 64.0, "act": "relu"}
    out = apply_hyperparameters(pools, params)
    assert out[0]["container_spec"]["args"] == [
        "--epochs=3",
        "--verbose",
        "--lr=0.01",
        "--units=64.0",
        "--act=relu",
    ]
    assert out[1] == {}
    assert out[2]["replica_count"] == 2
    assert out[2]["python_package_spec"]["args"] == ["--lr=0.01", "--units=64.0", "--act=relu"]
    assert json.dumps(pools) == original  # input untouched
    assert apply_hyperparameters(out, params) == out  # no duplicates when applied again


def test_apply_best_hyperparameters_of_a_trial():
    best = best_trial(trials_for_best(), ("acc", "MAXIMIZE"))
    out = apply_hyperparameters([container_pool(["--lr", "9"])], best_hyperparameters(best))
    assert out[0]["container_spec"]["args"] == ["--lr=0.3"]


def test_bare_flag_before_another_flag_is_dropped_alone():
    out = apply_hyperparameters([container_pool(["--lr", "--fast", "--lr2=1"])], {"lr": 1})
    assert out[0]["container_spec"]["args"] == ["--fast", "--lr2=1", "--lr=1.0"]


def test_format_value_writes_integral_doubles_like_vertex():
    assert format_value(64) == "64.0"
    assert format_value(64.0) == "64.0"
    assert format_value(0.001) == "0.001"
    assert format_value(1e-05) == "1e-05"
    assert format_value("adam") == "adam"
    with pytest.raises(SpecError):
        format_value(True)


def test_apply_refusals():
    with pytest.raises(SpecError) as err:
        apply_hyperparameters([container_pool([])], {"learning rate": 0.1})
    assert err.value.field == "hyperparameters"
    with pytest.raises(SpecError) as err:
        apply_hyperparameters([container_pool([], replicas=2)], {"lr": 0.1})
    assert err.value.field == "worker_pool_specs[0].replica_count"
    with pytest.raises(SpecError) as err:
        apply_hyperparameters([container_pool([])], [("lr", 0.1)])
    assert err.value.field == "hyperparameters"
