"""The orchestrator's parts on their own: placeholders as Vertex fills them, loading compiled
files, inputs and `dsl.OneOf`, the cache key, atomic records."""

import json
import os

import pytest

from vtp.local.orchestrator import records as rec
from vtp.local.orchestrator.cache import cache_key
from vtp.local.orchestrator.executors import _pip_packages, check_packages, exception_line
from vtp.local.orchestrator.inputs import InputError, Produced, dag_outputs, select
from vtp.local.orchestrator.ir import Interface, PipelineLoadError, load_pipeline_text
from vtp.local.orchestrator.placeholders import (
    PipelineContext,
    PlaceholderError,
    fill_command,
    fill_values,
)

CONTEXT = PipelineContext(
    "run-1", "uuid-1", "proj", "europe-west4", "gs://local-pipeline-root", "2026-01-01T00:00:00Z"
)
VALUES = CONTEXT.values("task", "task-uuid")
EXECUTOR_INPUT = {
    "inputs": {
        "parameterValues": {
            "name": 'a "quoted" name',
            "n": 3,
            "pools": [{"x": "{{$.json_escape[1]}}"}],
        },
        "artifacts": {
            "model": {
                "artifacts": [
                    {
                        "name": "m",
                        "uri": "gs://b/model",
                        "metadata": {"resourceName": "projects/p/models/1@2"},
                    }
                ]
            }
        },
    },
    "outputs": {
        "parameters": {"out": {"outputFile": "/tmp/out"}},
        "artifacts": {"data": {"artifacts": [{"name": "data", "uri": "gs://b/data"}]}},
        "outputFile": "/tmp/executor_output.json",
    },
}


def _fill(parts):
    return fill_command(parts, EXECUTOR_INPUT, VALUES, lambda uri: "/local/" + uri[5:])


def test_pipeline_placeholders_and_references_inside_values():
    filled = fill_values(
        {
            "project": "{{$.pipeline_google_cloud_project_id}}",
            "job": "{{$.pipeline_job_uuid}}",
            "pipelinechannel--col": "label",
            "args": ["--target={{$.inputs.parameters['pipelinechannel--col']}}", 3],
            "nested": {"k": "{{$.pipeline_root}}/{{$.pipeline_task_name}}"},
            "left": "{{$.json_escape[1]}} and {{$}}",
        },
        VALUES,
    )
    assert filled["project"] == "proj" and filled["job"] == "uuid-1"
    assert filled["args"] == ["--target=label", 3]
    assert filled["nested"] == {"k": "gs://local-pipeline-root/task"}
    assert filled["left"] == "{{$.json_escape[1]}} and {{$}}"  # for the command line


def test_command_placeholders():
    parts = [
        "{{$.inputs.parameters['n']}}",
        "{{$.inputs.artifacts['model'].uri}}",
        "{{$.inputs.artifacts['model'].path}}",
        "{{$.inputs.artifacts['model'].metadata['resourceName']}}",
        "{{$.outputs.artifacts['data'].path}}",
        "{{$.outputs.parameters['out'].output_file}}",
        "{{$.outputs.output_file}}",
        "{{$.pipeline_job_name}}/{{$.pipeline_google_cloud_location}}",
        "{{$.inputs.parameters['missing']}}",
    ]
    assert _fill(parts) == [
        "3",
        "gs://b/model",
        "/local/b/model",
        "projects/p/models/1@2",
        "/local/b/data",
        "/tmp/out",
        "/tmp/executor_output.json",
        "run-1/europe-west4",
        "null",  # an optional input without a value, as in KFP
    ]


def test_executor_input_placeholders_and_json_escape():
    (whole,) = _fill(["{{$}}"])
    assert json.loads(whole) == EXECUTOR_INPUT
    (payload,) = _fill(['{"executor_input": "{{$.json_escape[1]}}"}'])
    assert json.loads(json.loads(payload)["executor_input"]) == EXECUTOR_INPUT
    # GCPC leaves json_escape inside worker_pool_specs: filled where the value is inserted
    (payload,) = _fill(["{\"pools\": {{$.inputs.parameters['pools']}}}"])
    inner = json.loads(payload)["pools"][0]["x"]
    assert json.loads(inner) == EXECUTOR_INPUT
    (twice,) = _fill(["{{$.json_escape[2]}}"])
    once = json.loads(f'"{twice}"')
    assert json.loads(json.loads(f'"{once}"')) == EXECUTOR_INPUT


def test_structural_placeholders():
    parts = [
        json.dumps(
            {
                "IfPresent": {
                    "InputName": "model",
                    "Then": ["--model", "{{$.inputs.artifacts['model'].uri}}"],
                }
            }
        ),
        '{"IfPresent": {"InputName": "absent", "Then": ["--never"], "Else": "--else"}}',
        '{"Concat": ["a-", "{{$.inputs.parameters[\'n\']}}", "-b"]}',
    ]
    assert _fill(parts) == ["--model", "gs://b/model", "--else", "a-3-b"]


def test_an_unknown_placeholder_is_an_error_not_text():
    with pytest.raises(PlaceholderError, match="unknown placeholder"):
        _fill(["{{$.inputs.something_new}}"])
    with pytest.raises(PlaceholderError, match="no input artifact 'nope'"):
        _fill(["{{$.inputs.artifacts['nope'].uri}}"])


def test_files_that_are_not_compiled_pipelines_are_refused():
    with pytest.raises(PipelineLoadError, match="not valid YAML"):
        load_pipeline_text("a: [")
    with pytest.raises(PipelineLoadError, match="not a compiled KFP v2 pipeline"):
        load_pipeline_text("name: x\nimplementation: {}\n")
    with pytest.raises(PipelineLoadError, match="not a valid KFP PipelineSpec"):
        load_pipeline_text("root: {dag: {tasks: {}}}\ndeploymentSpec: {}\nbogus: 1\n")
    text = (
        "pipelineInfo: {name: p}\nroot:\n  dag:\n    tasks:\n      a:\n        componentRef: "
        "{name: comp-x}\n        taskInfo: {name: a}\ndeploymentSpec: {executors: {}}\n"
    )
    with pytest.raises(PipelineLoadError, match="component 'comp-x', which the file"):
        load_pipeline_text(text)


def test_a_cycle_is_refused():
    text = """
pipelineInfo: {name: p}
components:
  comp-a: {executorLabel: exec-a}
deploymentSpec: {executors: {exec-a: {container: {image: i, command: [x]}}}}
root:
  dag:
    tasks:
      a: {componentRef: {name: comp-a}, taskInfo: {name: a}, dependentTasks: [b]}
      b: {componentRef: {name: comp-a}, taskInfo: {name: b}, dependentTasks: [a]}
"""
    with pytest.raises(PipelineLoadError, match="cycle"):
        load_pipeline_text(text)


def test_loop_item_selectors():
    assert select({"a": {"b": 2}}, 'parseJson(string_value)["a"]["b"]') == 2
    assert select('{"a": [5, 6]}', 'parseJson(string_value)["a"][1]') == 6
    assert select({"a": 1}, "string_value") == '{"a": 1}'
    with pytest.raises(InputError, match="has no 'c'"):
        select({"a": 1}, 'parseJson(string_value)["c"]')
    with pytest.raises(InputError, match="cannot be evaluated locally"):
        select({"a": 1}, "size(string_value)")


def test_one_of_takes_the_branch_that_produced_and_refuses_two():
    outputs = {
        "artifacts": {
            "x": {
                "artifactSelectors": [
                    {"producerSubtask": "c1", "outputArtifactKey": "k1"},
                    {"producerSubtask": "c2", "outputArtifactKey": "k2"},
                ]
            }
        }
    }
    produced = {
        "c1": Produced(False, "SKIPPED", {}, {}),
        "c2": Produced(True, "SUCCEEDED", {}, {"k2": {"uri": "gs://b/2"}}),
    }
    assert dag_outputs(outputs, produced.__getitem__)[1] == {"x": {"uri": "gs://b/2"}}
    produced["c1"] = Produced(True, "SUCCEEDED", {}, {"k1": {"uri": "gs://b/1"}})
    with pytest.raises(InputError, match="more than one branch"):
        dag_outputs(outputs, produced.__getitem__)
    produced = {k: Produced(False, "SKIPPED", {}, {}) for k in ("c1", "c2")}
    assert dag_outputs(outputs, produced.__getitem__) == ({}, {})


def test_cache_key_follows_kfps_cache_key_fields():
    interface = Interface({}, {}, {}, {})
    executor = {"container": {"image": "i", "command": ["a"], "args": ["{{$}}"]}}
    key = cache_key(EXECUTOR_INPUT, interface, executor)
    assert key == cache_key(json.loads(json.dumps(EXECUTOR_INPUT)), interface, executor)
    changed = json.loads(json.dumps(EXECUTOR_INPUT))
    changed["inputs"]["parameterValues"]["n"] = 4
    assert cache_key(changed, interface, executor) != key
    other_image = {"container": {**executor["container"], "image": "j"}}
    assert cache_key(EXECUTOR_INPUT, interface, other_image) != key
    moved = json.loads(json.dumps(EXECUTOR_INPUT))
    moved["outputs"]["outputFile"] = "/elsewhere"  # output locations are not part of the key
    assert cache_key(moved, interface, executor) == key
    assert cache_key(EXECUTOR_INPUT, interface, executor, "mine") != key


def test_packages_to_install_must_be_installed_here():
    command = [
        "sh",
        "-c",
        '\nif ! [ -x "$(command -v pip)" ]; then\n python3 -m ensurepip\nfi\n\n'
        "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet "
        "--no-warn-script-location --index-url https://x/simple 'kfp==2.8.0' '--no-deps' "
        "'typing-extensions>=3.7.4,<5; python_version<\"3.9\"'  &&  python3 -m pip install "
        "--quiet --no-warn-script-location 'pandas' 'no-such-package-here==1' && \"$0\" \"$@\"\n",
    ]
    packages = _pip_packages(command)
    assert packages == [
        "kfp==2.8.0",
        'typing-extensions>=3.7.4,<5; python_version<"3.9"',
        "pandas",
        "no-such-package-here==1",
    ]
    notices = check_packages(packages[:3], "c")
    assert notices == [
        "component 'c' asks for 'kfp==2.8.0'; the local run uses the installed kfp 2.17.0"
    ]
    with pytest.raises(Exception, match="needs package 'no-such-package-here'"):
        check_packages(packages, "c")
    with pytest.raises(Exception, match="installs 'git\\+https://x/y.git'"):
        check_packages(["git+https://x/y.git"], "c")


def test_the_failing_exception_is_named_from_a_traceback():
    lines = [
        "log",
        "Traceback (most recent call last):",
        '  File "x", line 1',
        "    boom()",
        "ValueError: bad value",
        "error: trailing",
    ]
    assert exception_line(lines) == "ValueError: bad value"
    assert exception_line(["no traceback"]) == ""


def test_a_record_write_that_fails_leaves_the_previous_record(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    rec.write_json_atomic(path, {"state": "RUNNING"})

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        rec.write_json_atomic(path, {"state": "SUCCEEDED"})
    assert json.loads(path.read_text()) == {"state": "RUNNING"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left


def test_run_ids_are_unique_and_reserved(tmp_path):
    ids = {rec.reserve_run_dir(tmp_path, "p")[0] for _ in range(50)}
    assert len(ids) == 50
    assert all((tmp_path / i).is_dir() for i in ids)


def test_process_identity_survives_pid_reuse():
    me = os.getpid()
    start = rec.process_start_time(me)
    assert rec.process_alive(me, start)
    assert not rec.process_alive(me, str(int(start) + 1))  # another process with this pid
    assert not rec.process_alive(2**22 + 7, "")
