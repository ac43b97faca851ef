"""Pipeline parameters are typed and checked before anything runs."""

import pytest

from vtp import params
from vtp.cli.main import main
from vtp.errors import SpecError
from vtp.params import ParameterError
from vtp.pipelines import training


@pytest.fixture(scope="module")
def pipeline():
    return training.build()


def test_values_are_typed_from_text(pipeline):
    values = params.resolve(
        pipeline,
        assignments=params.parse_assignments(
            [
                "project=p",
                "split_seed=7",
                "metric_threshold=0.95",
                'hyperparameters={"max_iter": 50}',
                "data_source=a=b.csv",
            ]
        ),
    )
    assert values == {
        "project": "p",
        "split_seed": 7,
        "metric_threshold": 0.95,
        "hyperparameters": {"max_iter": 50},
        "data_source": "a=b.csv",
    }


def test_param_overrides_file_and_ints_count_as_floats(pipeline, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("project: from-file\nmetric_threshold: 1\nsplit_seed: 3\n")
    values = params.resolve(
        pipeline,
        file_values=params.load_params_file(f),
        assignments={"project": "from-cli"},
    )
    assert values == {"project": "from-cli", "metric_threshold": 1.0, "split_seed": 3}
    assert isinstance(values["metric_threshold"], float)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("nope=1", "unknown parameter 'nope'; the pipeline takes: .*data_source"),
        ("split_seed=1.5", "'split_seed' must be an integer, got '1.5'"),
        ("metric_threshold=high", "'metric_threshold' must be a number, got 'high'"),
        ("hyperparameters=[1, 2]", "'hyperparameters' must be a mapping"),
    ],
)
def test_bad_parameters_fail_with_name_value_and_type(pipeline, assignment, message):
    with pytest.raises(ParameterError, match=message):
        params.resolve(
            pipeline,
            assignments=params.parse_assignments([assignment, "project=p"]),
        )


def test_wrong_types_in_a_file_fail(pipeline, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("project: p\nsplit_seed: seven\n")
    with pytest.raises(ParameterError, match="'split_seed' must be an integer, got 'seven'"):
        params.resolve(pipeline, file_values=params.load_params_file(f))


def test_required_parameter_and_fallback(pipeline):
    with pytest.raises(ParameterError, match="'project' is required"):
        params.resolve(pipeline)
    assert params.resolve(pipeline, fallbacks={"project": "local"}) == {"project": "local"}


def test_malformed_assignment_and_missing_file(tmp_path):
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        params.parse_assignments(["novalue"])
    with pytest.raises(ParameterError, match="does not exist"):
        params.load_params_file(tmp_path / "missing.yaml")
    with pytest.raises(ParameterError, match="is not a file"):
        params.load_params_file(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("project: p\nsplit_seed: [1,\n")
    with pytest.raises(ParameterError, match=r"is not valid YAML or JSON \(line 3\)"):
        params.load_params_file(broken)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ParameterError, match="cannot be read"):
        params.load_params_file(binary)


def test_cli_reports_a_broken_params_file_and_an_unknown_pipeline(tmp_path, capsys):
    from vtp.cli.main import main

    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1,\n")
    assert main(["run", "training", "--local", "--params", str(broken)]) == 2
    assert "is not valid YAML or JSON" in capsys.readouterr().err
    assert main(["list", "nope"]) == 2
    assert capsys.readouterr().err == (
        "vtp: error: unknown pipeline 'nope'; known: distributed, training, tuning\n"
    )


def test_payload_is_validated_before_a_run(pipeline):
    values = params.effective(pipeline, {"project": "p", "accelerator_count": 2})
    with pytest.raises(SpecError, match="accelerator_count"):
        training.check_params(values)
    bad_goal = params.effective(pipeline, {"project": "p", "metric_goal": "up"})
    with pytest.raises(SpecError, match="metric_goal must be one of maximize, minimize"):
        training.check_params(bad_goal)


def test_cli_rejects_bad_input_before_running(tmp_path, capsys):
    home = tmp_path / "home"
    code = main(["run", "training", "--local", "--home", str(home), "--param", "bogus=1"])
    assert code == 2
    assert "unknown parameter 'bogus'" in capsys.readouterr().err
    code = main(
        ["run", "training", "--local", "--home", str(home), "--param", "train_fraction=0.9"]
    )
    assert code == 2
    assert "sum" in capsys.readouterr().err
    assert not home.exists(), "nothing may run (or be created) before parameters are valid"


def test_cli_run_without_local_explains(capsys):
    assert main(["run", "training"]) == 2
    assert "--local" in capsys.readouterr().err


def test_tuning_study_is_validated_before_a_run():
    from vtp.pipelines import tuning

    pipe = tuning.build()
    ok = params.effective(pipe, {"project": "p"})
    tuning.check_params(ok)
    with pytest.raises(SpecError, match="parallel_trial_count"):
        tuning.check_params({**ok, "max_trial_count": 2, "parallel_trial_count": 3})
    with pytest.raises(SpecError, match="GRID_SEARCH"):
        tuning.check_params({**ok, "study_spec_algorithm": "GRID_SEARCH"})
    with pytest.raises(SpecError, match="final_model"):
        tuning.check_params({**ok, "final_model": "newest"})


def test_hyperparameters_must_be_a_mapping_of_simple_values():
    from vtp.components.training.payload import hyperparameter_args

    assert hyperparameter_args({"max_iter": 64.0, "lr": 0.1}) == ["--lr=0.1", "--max_iter=64"]
    with pytest.raises(SpecError, match=r"hyperparameters must be a mapping .*, got \[1, 2\]"):
        hyperparameter_args([1, 2])
    with pytest.raises(SpecError, match=r"hyperparameters\['depth'\] must be a number or a string"):
        hyperparameter_args({"depth": [3]})
