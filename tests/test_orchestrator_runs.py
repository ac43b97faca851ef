"""The local orchestrator on small compiled pipelines: Vertex's semantics, proven from the
run records (states, attempts, timestamps), with real component processes.

Every pipeline here is compiled by KFP's compiler and run from its YAML by
`vtp.local.run.run_pipeline`, as `vtp run FILE.yaml --local` runs it.
"""

import json
from pathlib import Path

import pytest
import yaml
from kfp import dsl
from kfp.dsl import Dataset, Input, Output
from support.pipelines import compile_pipeline, max_overlap, run_json, when

from vtp.home import LocalHome
from vtp.local.orchestrator import Refusal
from vtp.local.run import RunFailed, run_pipeline

IMAGE = "python:3.11"


def _component(func=None, **kwargs):
    options = {"base_image": IMAGE, "install_kfp_package": False, **kwargs}
    return dsl.component(func, **options) if func else lambda f: dsl.component(f, **options)


@_component
def numbers(n: int) -> list:
    return [{"x": i} for i in range(n)]


@_component
def square(x: int, pause: float = 0.0) -> int:
    import time

    time.sleep(pause)
    return x * x


@_component
def add(values: list) -> int:
    return sum(values)


@_component
def pause(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "done"


@_component
def fail(message: str = "boom"):
    raise RuntimeError(message)


@_component
def write(out: Output[Dataset], text: str):
    with open(out.path, "w") as f:
        f.write(text)


@_component
def read(data: Input[Dataset]) -> str:
    with open(data.path) as f:
        return f.read()


@_component
def coin(side: str) -> str:
    return side


@_component
def status(final: dsl.PipelineTaskFinalStatus) -> str:
    return f"{final.state}:{final.pipeline_task_name}"


@_component
def flaky(counter: str, failures: int) -> int:
    from pathlib import Path

    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < failures:
        raise RuntimeError(f"attempt {seen + 1} fails")
    return seen + 1


def _run(tmp_path: Path, pipeline, params=None, **options):
    path = compile_pipeline(pipeline, tmp_path)
    home = LocalHome(tmp_path / "home")
    return run_pipeline(path, params or {}, home=home, out=None, **options), home.root


def _spans(record: dict, prefix: str) -> list[tuple[float, float]]:
    return [
        (when(t["started"]), when(t["ended"]))
        for name, t in record["tasks"].items()
        if name.startswith(prefix) and t["kind"] == "step"
    ]


def test_parallel_for_over_a_task_output_collects_in_order_within_its_parallelism(tmp_path):
    @dsl.pipeline(name="loop")
    def loop(n: int = 4):
        items = numbers(n=n)
        with dsl.ParallelFor(items.output, parallelism=2) as item:
            sq = square(x=item.x, pause=0.6)
        add(values=dsl.Collected(sq.output))

    result, home = _run(tmp_path, loop)
    record = run_json(home)
    assert record["tasks"]["add"]["outputs"]["Output"] == 0 + 1 + 4 + 9
    assert record["tasks"]["for-loop-1"]["outputs"] == {
        "pipelinechannel--square-Output": [0, 1, 4, 9]
    }
    assert [record["tasks"][f"for-loop-1[{i}]/square"]["state"] for i in range(4)] == [
        "SUCCEEDED"
    ] * 4
    spans = _spans(record, "for-loop-1[")
    assert max_overlap(spans) == 2  # the loop's parallelism, reached and never passed
    assert result.state == "SUCCEEDED"


def test_static_parallel_for_and_independent_tasks_run_at_once(tmp_path):
    @dsl.pipeline(name="static")
    def static():
        with dsl.ParallelFor([1, 2, 3]) as x:
            square(x=x, pause=0.6)
        pause(seconds=0.6)

    _, home = _run(tmp_path, static, parallelism=4)
    record = run_json(home)
    spans = _spans(record, "")
    assert len(spans) == 4
    assert max_overlap(spans) >= 3  # proven from the recorded times, not from a stopwatch
    assert record["options"]["parallelism"] == 4


def test_parallelism_one_runs_one_step_at_a_time(tmp_path):
    @dsl.pipeline(name="serial")
    def serial():
        pause(seconds=0.2)
        pause(seconds=0.2)
        pause(seconds=0.2)

    _, home = _run(tmp_path, serial, parallelism=1)
    assert max_overlap(_spans(run_json(home), "")) == 1


def test_exit_handler_runs_after_a_failure_with_the_final_status(tmp_path):
    @dsl.pipeline(name="exits")
    def exits():
        final = status()
        with dsl.ExitHandler(final):
            first = fail(message="body failed")
            pause(seconds=0.0).after(first)

    with pytest.raises(RunFailed) as caught:
        _run(tmp_path, exits)
    record = caught.value.record
    tasks = record.tasks
    assert tasks["fail"].state == "FAILED" and "body failed" in tasks["fail"].error
    assert tasks["pause"].state == "NOT_TRIGGERED"
    assert tasks["exit-handler-1"].state == "FAILED"
    assert tasks["status"].state == "SUCCEEDED"
    assert tasks["status"].outputs["Output"] == "FAILED:exit-handler-1"
    assert record.state == "FAILED"
    assert any("body failed" in line for line in record.failure_log)
    # the component's own exception line, not KFP's executor logging or the traceback
    assert record.failed_step == "fail" and record.cause == "RuntimeError: body failed"
    assert (
        record.cause_log == tasks["fail"].log
        and "RuntimeError: body failed" in Path(record.cause_log).read_text()
    )


def test_one_of_over_artifacts_takes_the_branch_that_ran(tmp_path):
    @dsl.pipeline(name="oneof")
    def oneof(side: str = "tails"):
        flip = coin(side=side)
        with dsl.If(flip.output == "heads"):
            heads = write(text="from heads")
        with dsl.Else():
            tails = write(text="from tails")
        read(data=dsl.OneOf(heads.outputs["out"], tails.outputs["out"]))

    _, home = _run(tmp_path, oneof)
    record = run_json(home)
    assert record["tasks"]["read"]["outputs"]["Output"] == "from tails"
    assert record["tasks"]["condition-2"]["state"] == "SKIPPED"
    assert record["tasks"]["write-2"]["outputs"]["out"]["uri"].startswith(
        "gs://local-pipeline-root/"
    )


@pytest.mark.slow
def test_retry_waits_its_backoff_and_records_every_attempt(tmp_path):
    counter = tmp_path / "counter"

    @dsl.pipeline(name="retry")
    def retry(path: str):
        flaky(counter=path, failures=2).set_retry(
            num_retries=3, backoff_duration="1s", backoff_factor=2.0
        )

    _, home = _run(tmp_path, retry, {"path": str(counter)})
    task = run_json(home)["tasks"]["flaky"]
    assert task["outputs"]["Output"] == 3
    attempts = task["attempts"]
    assert [a["state"] for a in attempts] == ["FAILED", "FAILED", "SUCCEEDED"]
    assert "attempt 1 fails" in attempts[0]["error"]
    gaps = [when(attempts[i + 1]["started"]) - when(attempts[i]["ended"]) for i in range(2)]
    assert gaps[0] >= 1.0 and gaps[1] >= 2.0  # backoff 1 s, then 1 s x factor 2


def test_a_retried_step_that_keeps_failing_fails_after_its_retries(tmp_path):
    @dsl.pipeline(name="noretry")
    def noretry():
        fail().set_retry(num_retries=1, backoff_duration="0s")

    with pytest.raises(RunFailed) as caught:
        _run(tmp_path, noretry)
    assert len(caught.value.record.tasks["fail"].attempts) == 2


@pytest.mark.slow
def test_cache_reuses_identical_steps_and_their_dependants(tmp_path):
    @dsl.pipeline(name="cached")
    def cached(text: str = "a"):
        made = write(text=text)
        read(data=made.outputs["out"])

    path = compile_pipeline(cached, tmp_path)
    home = LocalHome(tmp_path / "home")
    first = run_pipeline(path, {}, home=home, out=None, cache=True)
    second = run_pipeline(path, {}, home=home, out=None, cache=True)
    third = run_pipeline(path, {"text": "b"}, home=home, out=None, cache=True)
    uncached = run_pipeline(path, {}, home=home, out=None)
    assert [t.state for t in first.tasks.values() if t.kind == "step"] == ["SUCCEEDED"] * 2
    assert [second.tasks[n].state for n in ("write", "read")] == ["CACHED", "CACHED"]
    assert second.tasks["read"].outputs == first.tasks["read"].outputs
    assert second.tasks["write"].cache_key == first.tasks["write"].cache_key
    assert [third.tasks[n].state for n in ("write", "read")] == ["SUCCEEDED", "SUCCEEDED"]
    assert third.tasks["read"].outputs["Output"] == "b"
    assert uncached.tasks["write"].state == "SUCCEEDED" and not uncached.tasks["write"].cache_key


def test_failure_lets_independent_branches_finish_unless_fail_fast(tmp_path):
    @dsl.pipeline(name="policy")
    def policy():
        fail()
        later = pause(seconds=0.8)
        pause(seconds=0.0).after(later)

    with pytest.raises(RunFailed) as slow:
        _run(tmp_path / "slow", policy, parallelism=2)
    assert slow.value.record.tasks["pause-2"].state == "SUCCEEDED"
    with pytest.raises(RunFailed) as fast:
        _run(tmp_path / "fast", policy, parallelism=2, fail_fast=True)
    tasks = fast.value.record.tasks
    assert fast.value.record.state == "FAILED"
    assert tasks["pause-2"].state in ("CANCELLED", "NOT_TRIGGERED")


def test_ignore_upstream_failure_runs_after_a_failed_task(tmp_path):
    @dsl.pipeline(name="cleanup")
    def cleanup():
        broken = fail()
        pause(seconds=0.0).after(broken).ignore_upstream_failure()

    with pytest.raises(RunFailed) as caught:
        _run(tmp_path, cleanup)
    assert caught.value.record.tasks["pause"].state == "SUCCEEDED"


def test_a_condition_that_cannot_be_evaluated_fails_the_run_loudly(tmp_path):
    @dsl.pipeline(name="typed")
    def typed():
        flip = coin(side="heads")
        with dsl.If(flip.output == "heads"):
            pause(seconds=0.0)

    path = compile_pipeline(typed, tmp_path)
    # a condition comparing the string output with a number: CEL has no such overload
    path.write_text(path.read_text().replace("== 'heads'", "== 1"))
    with pytest.raises(RunFailed) as caught:
        run_pipeline(path, {}, home=LocalHome(tmp_path / "home"), out=None)
    task = caught.value.record.tasks["condition-1"]
    assert task.state == "FAILED"
    assert "cannot be evaluated" in task.error and "no matching overload" in task.error
    assert "pause" not in caught.value.record.tasks  # the branch never started


def test_nested_pipeline_importer_and_pipeline_placeholders(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("imported text")

    @_component
    def describe(job: str, task: str, root: str) -> str:
        return f"{job}|{task}|{root}"

    @dsl.pipeline(name="inner")
    def inner(text: str) -> str:
        made = write(text=text)
        return read(data=made.outputs["out"]).output

    @dsl.pipeline(name="outer")
    def outer(path: str):
        nested = inner(text="nested")
        imported = dsl.importer(artifact_uri=path, artifact_class=Dataset, metadata={"k": "v"})
        read(data=imported.output)
        describe(
            job=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            task=dsl.PIPELINE_TASK_NAME_PLACEHOLDER,
            root=dsl.PIPELINE_ROOT_PLACEHOLDER,
        ).after(nested)

    result, _home = _run(tmp_path, outer, {"path": str(data)})
    tasks = result.tasks
    assert tasks["inner"].outputs["Output"] == "nested"
    assert tasks["inner/read"].state == "SUCCEEDED"
    assert tasks["read"].outputs["Output"] == "imported text"
    assert tasks["importer"].outputs["artifact"]["metadata"] == {"k": "v"}
    job, task, root = tasks["describe"].outputs["Output"].split("|")
    assert job == result.run_id and task == "describe" and root == "gs://local-pipeline-root"


def test_run_record_holds_inputs_outputs_attempts_and_logs(tmp_path):
    @dsl.pipeline(name="recorded")
    def recorded(text: str = "hello"):
        made = write(text=text)
        read(data=made.outputs["out"])

    result, home = _run(tmp_path, recorded)
    record = run_json(home)
    assert record["state"] == "SUCCEEDED" and record["run_id"] == result.run_id
    assert record["params"] == {"text": "hello"}
    task = record["tasks"]["read"]
    assert task["inputs"]["artifacts"]["data"]["uri"].endswith("/write/out")
    assert task["outputs"] == {"Output": "hello"}
    assert task["attempts"][0]["state"] == "SUCCEEDED"
    assert Path(task["log"]).is_file()
    events = [json.loads(line) for line in (home / "runs" / result.run_id / "events.jsonl").open()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_ended"
    assert kinds.index("task_succeeded") > kinds.index("task_started")
    artifact = home / "gcs" / "local-pipeline-root" / result.run_id / "write" / "out"
    assert artifact.read_text() == "hello"


def test_what_cannot_run_here_is_refused_before_anything_runs(tmp_path, monkeypatch):
    from google_cloud_pipeline_components.v1.model import ModelDeleteOp

    monkeypatch.setenv("PATH", "/nonexistent")  # no docker client either

    @dsl.container_component
    def tool(out: dsl.OutputPath(str)):
        return dsl.ContainerSpec(image="registry.example/tool:1", command=["tool"], args=[out])

    @_component(packages_to_install=["surely-not-installed-package-xyz==1.0"])
    def needs():
        pass

    @dsl.pipeline(name="refused")
    def refused():
        tool()
        needs()
        ModelDeleteOp(model=dsl.importer(artifact_uri="x", artifact_class=dsl.Artifact).output)

    path = compile_pipeline(refused, tmp_path)
    home = tmp_path / "home"
    with pytest.raises(Refusal) as caught:
        run_pipeline(path, {}, home=LocalHome(home), out=None)
    message = str(caught.value)
    assert "registry.example/tool:1" in message and "VTP_IMAGE_COMMANDS" in message
    assert "surely-not-installed-package-xyz" in message
    assert "delete_model.launcher" in message and "no local twin" in message
    assert not (home / "runs").exists()


def test_a_mapped_image_runs_its_command_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("VTP_IMAGE_COMMANDS", json.dumps({"registry.example/echo": ["unused"]}))

    @dsl.container_component
    def echo(text: str, out: dsl.OutputPath(str)):
        return dsl.ContainerSpec(
            image="registry.example/echo:2",
            command=["python", "-c", "import sys; open(sys.argv[2], 'w').write(sys.argv[1])"],
            args=[text, out],
        )

    @dsl.pipeline(name="mapped")
    def mapped():
        echo(text="hi there")

    result, _ = _run(tmp_path, mapped)
    assert result.tasks["echo"].outputs["out"] == "hi there"


def test_a_step_that_writes_no_declared_output_fails(tmp_path):
    path = tmp_path / "p.yaml"

    @dsl.pipeline(name="missing")
    def missing():
        coin(side="x")

    compile_pipeline(missing, tmp_path, "p")
    text = path.read_text().replace("return side", "return None")
    spec = yaml.safe_load(text)
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(RunFailed) as caught:
        run_pipeline(path, {}, home=LocalHome(tmp_path / "home"), out=None)
    assert caught.value.record.tasks["coin"].state == "FAILED"
