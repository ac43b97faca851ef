"""Study spec builders: exact Vertex JSON, GCPC op inputs, SDK import, one refusal per rule."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from vtp.components.tuning.study import (
    ALGORITHMS,
    GOALS,
    MEASUREMENT_SELECTIONS,
    SCALES,
    CategoricalParameter,
    ConditionalParameter,
    DiscreteParameter,
    DoubleParameter,
    IntegerParameter,
    MetricSpec,
    StudySpec,
    TuningJobSpec,
    from_sdk,
)
from vtp.errors import SpecError

ACC = MetricSpec("accuracy", "MAXIMIZE")
LOSS = MetricSpec("loss", "MINIMIZE")


def full_study(**kwargs) -> StudySpec:
    """Every kind and scale, conditions under categorical, integer and discrete parents."""
    momentum = DoubleParameter("momentum", 0.0, 0.99)
    depth = IntegerParameter(
        "depth",
        1,
        6,
        conditional_parameters=[ConditionalParameter(DiscreteParameter("width", [8, 16]), [4, 5])],
    )
    return StudySpec(
        metrics=[ACC, LOSS],
        parameters=[
            DoubleParameter("lr", 1e-4, 0.1, "UNIT_LOG_SCALE"),
            DoubleParameter("beta", 0.9, 0.999, "UNIT_REVERSE_LOG_SCALE"),
            IntegerParameter("units", 4, 128, "UNIT_LOG_SCALE"),
            CategoricalParameter(
                "optimizer",
                ["sgd", "adam"],
                [ConditionalParameter(momentum, ["sgd"]), ConditionalParameter(depth, ["adam"])],
            ),
            DiscreteParameter(
                "batch_size",
                [16, 32, 64],
                "UNIT_LINEAR_SCALE",
                [ConditionalParameter(IntegerParameter("accum", 1, 4), [16.0])],
            ),
        ],
        **kwargs,
    )


FULL_DICT = {
    "metrics": [
        {"metric_id": "accuracy", "goal": "MAXIMIZE"},
        {"metric_id": "loss", "goal": "MINIMIZE"},
    ],
    "parameters": [
        {
            "parameter_id": "lr",
            "double_value_spec": {"min_value": 1e-4, "max_value": 0.1},
            "scale_type": "UNIT_LOG_SCALE",
        },
        {
            "parameter_id": "beta",
            "double_value_spec": {"min_value": 0.9, "max_value": 0.999},
            "scale_type": "UNIT_REVERSE_LOG_SCALE",
        },
        {
            "parameter_id": "units",
            "integer_value_spec": {"min_value": 4, "max_value": 128},
            "scale_type": "UNIT_LOG_SCALE",
        },
        {
            "parameter_id": "optimizer",
            "categorical_value_spec": {"values": ["sgd", "adam"]},
            "conditional_parameter_specs": [
                {
                    "parameter_spec": {
                        "parameter_id": "momentum",
                        "double_value_spec": {"min_value": 0.0, "max_value": 0.99},
                        "scale_type": "UNIT_LINEAR_SCALE",
                    },
                    "parent_categorical_values": {"values": ["sgd"]},
                },
                {
                    "parameter_spec": {
                        "parameter_id": "depth",
                        "integer_value_spec": {"min_value": 1, "max_value": 6},
                        "scale_type": "UNIT_LINEAR_SCALE",
                        "conditional_parameter_specs": [
                            {
                                "parameter_spec": {
                                    "parameter_id": "width",
                                    "discrete_value_spec": {"values": [8.0, 16.0]},
                                    "scale_type": "UNIT_LINEAR_SCALE",
                                },
                                "parent_int_values": {"values": [4, 5]},
                            }
                        ],
                    },
                    "parent_categorical_values": {"values": ["adam"]},
                },
            ],
        },
        {
            "parameter_id": "batch_size",
            "discrete_value_spec": {"values": [16.0, 32.0, 64.0]},
            "scale_type": "UNIT_LINEAR_SCALE",
            "conditional_parameter_specs": [
                {
                    "parameter_spec": {
                        "parameter_id": "accum",
                        "integer_value_spec": {"min_value": 1, "max_value": 4},
                        "scale_type": "UNIT_LINEAR_SCALE",
                    },
                    "parent_discrete_values": {"values": [16.0]},
                }
            ],
        },
    ],
    "algorithm": "ALGORITHM_UNSPECIFIED",
    "measurement_selection_type": "BEST_MEASUREMENT",
}


def test_full_study_to_dict_is_the_vertex_json():
    assert full_study().to_dict() == FULL_DICT


def test_to_dict_parses_into_aiplatform_v1_study_spec():
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    study = full_study(median_stopping=True)
    study.validate()
    proto = json_format.ParseDict(study.to_dict(), aiplatform_v1.StudySpec.pb()())
    assert proto.HasField("median_automated_stopping_spec")
    assert proto.parameters[3].conditional_parameter_specs[1].parameter_spec.parameter_id == "depth"
    TuningJobSpec(study, max_trial_count=20, parallel_trial_count=4).validate()


def test_validate_reports_what_only_the_proto_knows():
    # Our builders refuse bad values earlier; the proto check is the safety net for the dict.
    study = full_study()
    object.__setattr__(study, "algorithm", "BAYESIAN")
    with pytest.raises(SpecError) as err:
        study.validate()
    assert err.value.field == "study_spec.algorithm"
    assert err.value.value == "BAYESIAN"


def test_stopping_specs_and_local_notice():
    assert full_study().local_notice() is None
    assert full_study(median_stopping=True).local_notice() is None
    decay = full_study(decay_curve_stopping=True)
    assert decay.to_dict()["decay_curve_stopping_spec"] == {}
    assert "median" in decay.local_notice()
    convex = full_study(convex_stopping=True)
    assert convex.to_dict()["convex_automated_stopping_spec"] == {}
    assert "does not stop trials early" in convex.local_notice()
    for study in (decay, convex):
        study.validate()


def test_op_inputs_equal_gcpc_serializers_and_sdk_import():
    from google.cloud.aiplatform import hyperparameter_tuning as hpt
    from google_cloud_pipeline_components.v1.hyperparameter_tuning_job import (
        serialize_metrics,
        serialize_parameters,
    )

    sdk_parameters = {
        "lr": hpt.DoubleParameterSpec(min=1e-4, max=0.1, scale="log"),
        "beta": hpt.DoubleParameterSpec(min=0.9, max=0.999, scale="reverse_log"),
        "units": hpt.IntegerParameterSpec(min=4, max=128, scale="log"),
        "optimizer": hpt.CategoricalParameterSpec(
            values=["sgd", "adam"],
            conditional_parameter_spec={
                "momentum": hpt.DoubleParameterSpec(
                    min=0.0, max=0.99, scale="linear", parent_values=["sgd"]
                ),
                "depth": hpt.IntegerParameterSpec(
                    min=1,
                    max=6,
                    scale="linear",
                    parent_values=["adam"],
                    conditional_parameter_spec={
                        "width": hpt.DiscreteParameterSpec(
                            values=[8, 16], scale="linear", parent_values=[4, 5]
                        )
                    },
                ),
            },
        ),
        "batch_size": hpt.DiscreteParameterSpec(
            values=[16, 32, 64],
            scale="linear",
            conditional_parameter_spec={
                "accum": hpt.IntegerParameterSpec(min=1, max=4, scale="linear", parent_values=[16])
            },
        ),
    }
    sdk_metrics = {"accuracy": "maximize", "loss": "minimize"}
    study = full_study()
    assert from_sdk(sdk_parameters, sdk_metrics) == study
    assert study.metric_spec() == {"accuracy": "MAXIMIZE", "loss": "MINIMIZE"}
    assert study.parameter_spec() == serialize_parameters(sdk_parameters)
    inputs = study.op_inputs()
    assert inputs["study_spec_metrics"] == serialize_metrics(sdk_metrics)
    assert inputs["study_spec_parameters"] == serialize_parameters(sdk_parameters)
    grid = from_sdk(
        {"units": hpt.IntegerParameterSpec(min=1, max=3, scale="unspecified")},
        {"loss": "minimize"},
        search_algorithm="grid",
        measurement_selection="last",
        median_stopping=True,
    )
    assert grid == StudySpec(
        [LOSS],
        [IntegerParameter("units", 1, 3, "SCALE_TYPE_UNSPECIFIED")],
        algorithm="GRID_SEARCH",
        measurement_selection="LAST_MEASUREMENT",
        median_stopping=True,
    )
    assert grid.parameter_spec() == serialize_parameters(
        {"units": hpt.IntegerParameterSpec(min=1, max=3, scale="unspecified")}
    )
    with pytest.raises(SpecError, match="search_algorithm must be None, 'grid' or 'random'"):
        from_sdk(sdk_parameters, sdk_metrics, search_algorithm="bayes")
    with pytest.raises(SpecError, match=r"parameter_spec\['x'\].scale must be one of linear"):
        from_sdk({"x": hpt.DoubleParameterSpec(min=0, max=1, scale="squared")}, sdk_metrics)


def test_op_inputs_are_inputs_of_gcpc_tuning_op():
    import google_cloud_pipeline_components as gcpc

    source = Path(gcpc.__file__).parent / "v1" / "hyperparameter_tuning_job" / "component.py"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "\/" in GCPC's docstrings
        tree = ast.parse(source.read_text())
    func = next(
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name == "hyperparameter_tuning_job"
    )
    names = [a.arg for a in func.args.args]
    job = TuningJobSpec(full_study(), max_trial_count=10, parallel_trial_count=2)
    inputs = job.op_inputs()
    assert set(inputs) <= set(names)
    assert inputs["max_trial_count"] == 10
    assert inputs["study_spec_algorithm"] == "ALGORITHM_UNSPECIFIED"
    assert inputs["study_spec_measurement_selection_type"] == "BEST_MEASUREMENT"


def test_op_inputs_refuse_stopping_specs():
    with pytest.raises(SpecError) as err:
        full_study(median_stopping=True).op_inputs()
    assert err.value.field == "study_spec.median_stopping"
    assert "no stopping input" in str(err.value)


def test_primary_metric_moves_first_and_defaults_to_first():
    assert full_study().primary == ACC
    study = full_study(primary_metric="loss")
    assert study.primary_metric == "loss"
    assert [m.metric_id for m in study.metrics] == ["loss", "accuracy"]
    assert list(study.metric_spec()) == ["loss", "accuracy"]
    assert StudySpec.from_dict(study.to_dict()) == study


def test_round_trips_through_dicts():
    study = full_study(
        algorithm="RANDOM_SEARCH", measurement_selection="LAST_MEASUREMENT", convex_stopping=True
    )
    assert StudySpec.from_dict(study.to_dict()) == study
    plain = full_study()
    inputs = plain.op_inputs()
    from_inputs = StudySpec.from_dict(
        {
            "metrics": inputs["study_spec_metrics"],
            "parameters": inputs["study_spec_parameters"],
            "algorithm": inputs["study_spec_algorithm"],
            "measurement_selection_type": inputs["study_spec_measurement_selection_type"],
        }
    )
    assert from_inputs == plain


def test_from_dict_reads_proto_json_camel_case():
    from google.cloud import aiplatform_v1
    from google.protobuf import json_format

    study = full_study(decay_curve_stopping=True)
    proto = json_format.ParseDict(study.to_dict(), aiplatform_v1.StudySpec.pb()())
    camel = json_format.MessageToDict(proto)
    assert "measurementSelectionType" in camel
    assert camel["parameters"][2]["integerValueSpec"] == {"minValue": "4", "maxValue": "128"}
    assert StudySpec.from_dict(camel) == study


def test_from_dict_reads_kfp_floats():
    d = {
        "metrics": [{"metric_id": "loss", "goal": 2.0}],
        "parameters": [
            {
                "parameter_id": "n",
                "integer_value_spec": {"min_value": 1.0, "max_value": "3"},
                "scale_type": 1.0,
                "conditional_parameter_specs": [
                    {
                        "parameter_spec": {
                            "parameter_id": "k",
                            "categorical_value_spec": {"values": ["a"]},
                        },
                        "parent_int_values": {"values": [2.0]},
                    }
                ],
            }
        ],
        "algorithm": 2.0,
    }
    child = ConditionalParameter(CategoricalParameter("k", ["a"]), [2])
    assert StudySpec.from_dict(d) == StudySpec(
        [LOSS], [IntegerParameter("n", 1, 3, conditional_parameters=[child])], "GRID_SEARCH"
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"metrics": [], "parameters": [], "noise": 1}, "study_spec", "fields must be among"),
        ({"parameters": []}, "study_spec.metrics", "is required"),
        (
            {"metrics": [{"metric_id": "m", "goal": "UP"}], "parameters": []},
            "study_spec.metrics[0].goal",
            "must be one of MAXIMIZE, MINIMIZE",
        ),
        (
            {
                "metrics": [{"metric_id": "m", "goal": 1}],
                "parameters": [
                    {
                        "parameter_id": "x",
                        "double_value_spec": {"min_value": 0, "max_value": 1},
                        "discrete_value_spec": {"values": [1]},
                    }
                ],
            },
            "study_spec.parameters[0]",
            "must set exactly one of",
        ),
    ],
)
def test_from_dict_refusals(data, field, message):
    with pytest.raises(SpecError) as err:
        StudySpec.from_dict(data)
    assert err.value.field == field
    assert message in str(err.value)


def test_specs_are_frozen_and_hashable():
    study = full_study()
    assert hash(study) == hash(full_study())
    with pytest.raises(AttributeError):
        study.algorithm = "GRID_SEARCH"  # type: ignore[misc]
    assert [p.parameter_id for p in study.iter_parameters()] == [
        "lr",
        "beta",
        "units",
        "optimizer",
        "momentum",
        "depth",
        "width",
        "batch_size",
        "accum",
    ]


def test_tables_match_aiplatform_v1_enums():
    from google.cloud.aiplatform_v1 import StudySpec as Proto

    def table(enum) -> dict[str, int]:
        return {e.name: e.value for e in enum}

    assert table(Proto.MetricSpec.GoalType) == {"GOAL_TYPE_UNSPECIFIED": 0, **GOALS}
    assert table(Proto.ParameterSpec.ScaleType) == SCALES
    assert table(Proto.Algorithm) == ALGORITHMS
    assert table(Proto.MeasurementSelectionType) == {
        "MEASUREMENT_SELECTION_TYPE_UNSPECIFIED": 0,
        **MEASUREMENT_SELECTIONS,
    }


def test_import_does_not_load_aiplatform():
    modules = ["study", "trials", "hypertune_file"]
    code = "; ".join(f"import vtp.components.tuning.{m}" for m in modules)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    assert "google.cloud.aiplatform" not in out.stderr
    assert "optuna" not in out.stderr
    for module in modules:
        assert f"components.tuning.{module}" in out.stderr


# --- one refusal per rule -----------------------------------------------------------------------


def _study(*parameters, **kwargs) -> StudySpec:
    return StudySpec([ACC], list(parameters), **kwargs)


def _cond(parameter, values) -> ConditionalParameter:
    return ConditionalParameter(parameter, values)


X = DoubleParameter("x", 0, 1)

INVALID = {
    "double min > max": (
        lambda: DoubleParameter("lr", 0.5, 0.1),
        "parameters.lr.min_value",
        "must be <= max_value (0.1)",
    ),
    "integer min > max": (
        lambda: IntegerParameter("n", 5, 4),
        "parameters.n.min_value",
        "must be <= max_value (4)",
    ),
    "log scale min 0": (
        lambda: DoubleParameter("lr", 0, 1, "UNIT_LOG_SCALE"),
        "parameters.lr.min_value",
        "must be > 0 with UNIT_LOG_SCALE",
    ),
    "reverse log scale negative min": (
        lambda: IntegerParameter("n", -1, 4, "UNIT_REVERSE_LOG_SCALE"),
        "parameters.n.min_value",
        "must be > 0 with UNIT_REVERSE_LOG_SCALE",
    ),
    "discrete log scale with 0": (
        lambda: DiscreteParameter("d", [0, 1], "UNIT_LOG_SCALE"),
        "parameters.d.values[0]",
        "must be > 0 with UNIT_LOG_SCALE",
    ),
    "unknown scale": (
        lambda: DoubleParameter("lr", 0, 1, "LOG"),
        "parameters.lr.scale",
        "must be one of SCALE_TYPE_UNSPECIFIED, UNIT_LINEAR_SCALE",
    ),
    "non-finite bound": (
        lambda: DoubleParameter("lr", 0, float("inf")),
        "parameters.lr.max_value",
        "must be a finite number",
    ),
    "integer bound not int": (
        lambda: IntegerParameter("n", 1, 2.5),
        "parameters.n.max_value",
        "must be an integer",
    ),
    "empty categorical": (
        lambda: CategoricalParameter("c", []),
        "parameters.c.values",
        "must list at least one value",
    ),
    "categorical value repeated": (
        lambda: CategoricalParameter("c", ["a", "a"]),
        "parameters.c.values[1]",
        "must not repeat an earlier value",
    ),
    "categorical value not a string": (
        lambda: CategoricalParameter("c", ["a", 1]),
        "parameters.c.values[1]",
        "must be a string",
    ),
    "categorical values as one string": (
        lambda: CategoricalParameter("c", "abc"),
        "parameters.c.values",
        "must be a sequence of strings",
    ),
    "discrete not increasing": (
        lambda: DiscreteParameter("d", [1, 4, 2]),
        "parameters.d.values",
        "must be strictly increasing (values[2] = 2.0 follows 4.0)",
    ),
    "discrete repeated": (
        lambda: DiscreteParameter("d", [1, 1]),
        "parameters.d.values",
        "must be strictly increasing",
    ),
    "discrete too many": (
        lambda: DiscreteParameter("d", list(range(1001))),
        "parameters.d.values",
        "must hold at most 1000",
    ),
    "parameter id with space": (
        lambda: DoubleParameter("learning rate", 0, 1),
        "parameter_id",
        "must be a non-empty string without whitespace or '='",
    ),
    "parameter id with =": (
        lambda: DoubleParameter("a=b", 0, 1),
        "parameter_id",
        "--<parameter_id>=<value>",
    ),
    "parameter id starting with -": (
        lambda: DoubleParameter("-lr", 0, 1),
        "parameter_id",
        "not starting with '-'",
    ),
    "unknown categorical parent value": (
        lambda: CategoricalParameter("opt", ["sgd", "adam"], [_cond(X, ["rmsprop"])]),
        "parameters.opt.conditional_parameters[0].parent_values[0]",
        "must be among the values of opt: sgd, adam",
    ),
    "integer parent value outside range": (
        lambda: IntegerParameter("n", 1, 4, conditional_parameters=[_cond(X, [2, 9])]),
        "parameters.n.conditional_parameters[0].parent_values[1]",
        "must be integers from 1 to 4",
    ),
    "integer parent value not int": (
        lambda: IntegerParameter("n", 1, 4, conditional_parameters=[_cond(X, ["2"])]),
        "parameters.n.conditional_parameters[0].parent_values[0]",
        "must be integers from 1 to 4",
    ),
    "discrete parent value not listed": (
        lambda: DiscreteParameter("d", [1, 2], conditional_parameters=[_cond(X, [1.5])]),
        "parameters.d.conditional_parameters[0].parent_values[0]",
        "must be among the values of d: 1, 2",
    ),
    "double parent": (
        lambda: DoubleParameter("p", 0, 1, conditional_parameters=[_cond(X, [0.5])]),
        "parameters.p.conditional_parameters",
        "a DOUBLE parameter cannot be a parent",
    ),
    "empty parent values": (
        lambda: _cond(X, []),
        "parameters.x.parent_values",
        "must list at least one parent value",
    ),
    "condition not a ConditionalParameter": (
        lambda: CategoricalParameter("c", ["a"], [X]),
        "parameters.c.conditional_parameters[0]",
        "must be a ConditionalParameter",
    ),
    "unknown goal": (
        lambda: MetricSpec("acc", "maximize"),
        "metrics.acc.goal",
        "must be one of MAXIMIZE, MINIMIZE",
    ),
    "metric id with space": (
        lambda: MetricSpec("val acc", "MAXIMIZE"),
        "metrics.metric_id",
        "without spaces",
    ),
    "no metrics": (
        lambda: StudySpec([], [X]),
        "study_spec.metrics",
        "must hold at least one MetricSpec",
    ),
    "duplicate metric": (
        lambda: StudySpec([ACC, ACC], [X]),
        "study_spec.metrics[1].metric_id",
        "must be unique",
    ),
    "primary metric not among metrics": (
        lambda: StudySpec([ACC, LOSS], [X], primary_metric="f1"),
        "study_spec.primary_metric",
        "must be one of the metrics: accuracy, loss",
    ),
    "no parameters": (
        lambda: _study(),
        "study_spec.parameters",
        "must hold at least one parameter",
    ),
    "duplicate parameter ids": (
        lambda: _study(X, DoubleParameter("x", 1, 2)),
        "study_spec.parameters",
        "must not repeat a parameter_id",
    ),
    "duplicate id in a condition": (
        lambda: _study(
            X, CategoricalParameter("c", ["a"], [_cond(DoubleParameter("x", 0, 1), ["a"])])
        ),
        "study_spec.parameters",
        "conditional parameters included",
    ),
    "grid search over a double": (
        lambda: _study(IntegerParameter("n", 1, 3), X, algorithm="GRID_SEARCH"),
        "study_spec.algorithm",
        "must not be GRID_SEARCH with DOUBLE parameters (x)",
    ),
    "grid search over a conditional double": (
        lambda: _study(
            CategoricalParameter("c", ["a"], [_cond(X, ["a"])]), algorithm="GRID_SEARCH"
        ),
        "study_spec.algorithm",
        "DOUBLE parameters (x)",
    ),
    "unknown algorithm": (
        lambda: _study(X, algorithm="BAYESIAN"),
        "study_spec.algorithm",
        "must be one of ALGORITHM_UNSPECIFIED, GRID_SEARCH, RANDOM_SEARCH",
    ),
    "unknown measurement selection": (
        lambda: _study(X, measurement_selection="BEST"),
        "study_spec.measurement_selection",
        "must be one of LAST_MEASUREMENT, BEST_MEASUREMENT",
    ),
    "two stopping specs": (
        lambda: _study(X, median_stopping=True, decay_curve_stopping=True),
        "study_spec.decay_curve_stopping",
        "must be False with median_stopping",
    ),
    "parallel > max trials": (
        lambda: TuningJobSpec(_study(X), max_trial_count=4, parallel_trial_count=5),
        "parallel_trial_count",
        "must be <= max_trial_count (4)",
    ),
    "max_trial_count < 1": (
        lambda: TuningJobSpec(_study(X), max_trial_count=0, parallel_trial_count=1),
        "max_trial_count",
        "must be an integer >= 1",
    ),
    "negative max_failed_trial_count": (
        lambda: TuningJobSpec(_study(X), 4, 1, max_failed_trial_count=-1),
        "max_failed_trial_count",
        "must be an integer >= 0",
    ),
    "study not a StudySpec": (
        lambda: TuningJobSpec({"metrics": []}, 4, 1),
        "study_spec",
        "must be a StudySpec",
    ),
}


@pytest.mark.parametrize(("build", "field", "allowed"), INVALID.values(), ids=INVALID.keys())
def test_invalid_spec_refused(build, field, allowed):
    with pytest.raises(SpecError) as err:
        build()
    assert err.value.field == field
    assert allowed in str(err.value)


def test_edge_values_accepted():
    assert DoubleParameter("x", 0.5, 0.5).to_dict()["double_value_spec"] == {
        "min_value": 0.5,
        "max_value": 0.5,
    }
    assert IntegerParameter("n", -3, -1).min_value == -3
    assert DiscreteParameter("d", [2]).values == (2.0,)
    assert CategoricalParameter("c", ["only"]).values == ("only",)
