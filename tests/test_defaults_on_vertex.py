"""Every compiled pipeline submits and schedules on Vertex with its own defaults: no `--param`
beyond what is required, and integer parameters stay integers from the Python signature
through the YAML to the request.

Against the Vertex AI REST stand-in and the storage emulator (`vertex` fixture), from the
`shippable` project (vtp's pipelines compiled for a registry).
"""

import itertools
import os

import pytest
import yaml

from vtp import catalog, params
from vtp.cli.main import main
from vtp.cloud.pipeline_job import load_pipeline
from vtp.cloud.templates import ResolvedTemplate

RUNNER = "runner@p.iam.gserviceaccount.com"
_buckets = itertools.count()


def run_options() -> list[str]:
    root = f"gs://vtp-defaults-{next(_buckets)}-{os.getpid()}/root"
    return ["--project", "p", "--service-account", RUNNER, "--pipeline-root", root]


def integer_inputs(path) -> dict[str, object]:
    """Name -> default of the pipeline parameters the YAML types NUMBER_INTEGER."""
    spec = yaml.safe_load(path.read_text())
    return {
        name: definition.get("defaultValue")
        for name, definition in spec["root"]["inputDefinitions"]["parameters"].items()
        if definition["parameterType"] == "NUMBER_INTEGER"
    }


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_declared_integer_defaults_are_integers(name, shippable):
    """The YAML stores numbers as JSON doubles (`worker_count: 2.0`); read back, an integer
    parameter's default is an int again."""
    path = shippable / "pipelines" / f"{name}.yaml"
    assert integer_inputs(path), "every vtp pipeline has integer parameters"
    template = ResolvedTemplate(path, None, None, name)
    declared = params.declared_inputs(load_pipeline(template))
    for pname in integer_inputs(path):
        default = declared[pname].default
        assert type(default) is int, (pname, default)


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_submit_with_the_pipelines_own_defaults(name, vertex, capsys):
    assert main(["submit", name, *run_options()]) == 0, capsys.readouterr().err
    (call,) = vertex.calls("POST", "/pipelineJobs")
    # only what the run fills in itself: the defaults stay in the spec
    assert dict(call.message.runtime_config.parameter_values) == {
        "project": "p",
        "location": "us-central1",
    }
    sent = call.body["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    assert all(
        sent[p]["defaultValue"] == int(sent[p]["defaultValue"])
        for p in sent
        if sent[p]["parameterType"] == "NUMBER_INTEGER" and "defaultValue" in sent[p]
    )


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_schedule_with_the_pipelines_own_defaults(name, vertex_api, capsys):
    code = main(["schedule", "create", name, "--cron", "0 3 * * *", *run_options()])
    assert code == 0, capsys.readouterr().err
    (call,) = vertex_api.calls("POST", "/schedules")
    job = call.message.create_pipeline_job_request.pipeline_job
    assert dict(job.runtime_config.parameter_values) == {"project": "p", "location": "us-central1"}


def test_an_integer_given_as_a_whole_float_is_sent_as_an_integer(vertex, capsys, tmp_path):
    """A params file written by another tool (`worker_count: 3.0`) is an integer: sent as 3."""
    file = tmp_path / "p.yaml"
    file.write_text("worker_count: 3.0\nsplit_seed: 7\n")
    assert main(["submit", "distributed", "--params", str(file), *run_options()]) == 0, (
        capsys.readouterr().err
    )
    (call,) = vertex.calls("POST", "/pipelineJobs")
    assert call.body["runtimeConfig"]["parameterValues"]["worker_count"] == 3
    values = dict(call.message.runtime_config.parameter_values)
    assert (values["worker_count"], values["split_seed"]) == (3, 7)


def test_a_fractional_integer_is_refused_before_any_request(vertex, capsys, tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text("worker_count: 2.5\n")
    assert main(["submit", "distributed", "--params", str(file), *run_options()]) == 2
    assert "parameter 'worker_count' must be an integer, got 2.5" in capsys.readouterr().err
    assert vertex.calls() == []
