"""`vtp submit` through the real Vertex AI SDK, against loopback stand-ins.

Stand-ins: `tests.standins.vertex_api.VertexStandIn` (the Vertex AI REST API: it records
every request and moves pipeline jobs through their states) and `tests.standins.gcs`
(the real gcp-storage-emulator, where the SDK checks the pipeline-root bucket on submit).
The registry test adds `tests.standins.artifact_registry.ArtifactRegistryStandIn`.
"""

import itertools
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp import compiler, dsl
from support.waiting import wait_until

from vtp.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
RUNNER = "runner@p.iam.gserviceaccount.com"
NETWORK = "projects/123456789012/global/networks/vpc"  # the stand-in project's number
_buckets = itertools.count()


@dsl.component(base_image="python:3.11")
def _add(a: int, b: float) -> float:
    return a + b


@dsl.pipeline(name="tiny", description="Two tasks, one of them never cached.")
def _tiny(
    count: int,
    ratio: float = 0.5,
    name: str = "x",
    enabled: bool = True,
    sizes: list = [1, 2],  # noqa: B006 - KFP reads defaults from the signature
    options: dict = {},  # noqa: B006
):
    first = _add(a=count, b=ratio)
    first.set_caching_options(False)
    _add(a=count, b=first.output)


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory) -> Path:
    """A compiled pipeline whose tasks differ in caching: `add` never cached, `add-2` cached."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    compiler.Compiler().compile(_tiny, str(path))
    return path


def submit(*args: str) -> int:
    """`vtp submit` with project p, a service account and a new pipeline-root bucket."""
    root = f"gs://vtp-runs-{next(_buckets)}-{os.getpid()}/root"
    return main(
        [
            "submit",
            *args,
            "--project",
            "p",
            "--service-account",
            RUNNER,
            "--pipeline-root",
            root,
        ]
    )


def created(vertex):
    """The one CreatePipelineJob request, decoded into `aiplatform_v1.PipelineJob`."""
    (call,) = vertex.calls("POST", "/pipelineJobs")
    return call, call.message


def task_caching(spec: dict) -> dict:
    return {name: task.get("cachingOptions") for name, task in spec["root"]["dag"]["tasks"].items()}


def test_submit_sends_typed_parameters_and_run_options(vertex, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("data_source: gs://data/breast_cancer.csv\nsplit_seed: 3\n")
    code = submit(
        "training",
        "--param",
        "split_seed=7",
        "--param",
        "metric_threshold=0.95",
        "--param",
        'hyperparameters={"max_iter": 50}',
        "--params",
        str(params),
        "--label",
        "team=ml",
        "--label",
        "env=test",
        "--display-name",
        "nightly training",
        "--network",
        NETWORK,
        "--failure-policy",
        "fast",
    )
    out = capsys.readouterr().out
    assert code == 0
    call, job = created(vertex)
    assert re.fullmatch(r"training-\d{14}-[0-9a-f]{6}", call.query["pipelineJobId"][0])
    values = dict(job.runtime_config.parameter_values)
    assert values == {
        "split_seed": 7,  # --param wins over the file
        "metric_threshold": 0.95,
        "hyperparameters": {"max_iter": 50},
        "data_source": "gs://data/breast_cancer.csv",
        "project": "p",  # the run's own project and location, as nobody set them
        "location": "us-central1",
    }
    assert call.body["runtimeConfig"]["parameterValues"]["split_seed"] == 7
    assert job.display_name == "nightly training"
    assert job.labels["team"] == "ml" and job.labels["env"] == "test"
    assert job.service_account == RUNNER
    assert job.network == NETWORK
    assert job.runtime_config.failure_policy.name == "PIPELINE_FAILURE_POLICY_FAIL_FAST"
    assert job.runtime_config.gcs_output_directory.startswith("gs://vtp-runs-")
    name = f"projects/p/locations/us-central1/pipelineJobs/{call.query['pipelineJobId'][0]}"
    assert out.splitlines() == [
        f"run      {name}",
        "console  https://console.cloud.google.com/vertex-ai/locations/us-central1/pipelines/"
        f"runs/{name.rsplit('/', 1)[-1]}?project=p",
    ]
    bucket = job.runtime_config.gcs_output_directory.removeprefix("gs://").split("/")[0]
    members = vertex.gcs.iam_members(bucket)  # the SDK created the root and opened it to RUNNER
    assert f"serviceAccount:{RUNNER}" in members["roles/storage.objectCreator"]


def test_caching_is_left_as_compiled_unless_asked(vertex, tiny_yaml):
    compiled = task_caching(yaml.safe_load(tiny_yaml.read_text()))
    assert compiled == {"add": {}, "add-2": {"enableCache": True}}  # mixed on purpose

    def sent() -> dict:
        return task_caching(vertex.calls("POST", "/pipelineJobs")[-1].body["pipelineSpec"])

    assert submit(str(tiny_yaml), "--param", "count=2") == 0
    assert sent() == compiled
    assert submit(str(tiny_yaml), "--param", "count=2", "--no-cache") == 0
    assert sent() == {"add": {"enableCache": False}, "add-2": {"enableCache": False}}
    assert submit(str(tiny_yaml), "--param", "count=2", "--cache") == 0
    assert sent() == {"add": {"enableCache": True}, "add-2": {"enableCache": True}}


def test_typed_values_of_every_kind_reach_the_request(vertex, tiny_yaml, capsys):
    code = submit(
        str(tiny_yaml),
        "--param",
        "count=3",
        "--param",
        "ratio=2",
        "--param",
        "enabled=false",
        "--param",
        "sizes=[4, 5]",
        "--param",
        'options={"a": {"b": 1}}',
        "--param",
        "name=a=b",
    )
    assert code == 0, capsys.readouterr().err
    body = created(vertex)[0].body["runtimeConfig"]["parameterValues"]
    assert body == {
        "count": 3,
        "ratio": 2.0,
        "enabled": False,
        "sizes": [4, 5],
        "options": {"a": {"b": 1}},
        "name": "a=b",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "count=1.5"], "parameter 'count' must be an integer, got '1.5'"),
        (["--param", "count=1", "--param", "ratio=high"], "'ratio' must be a number, got 'high'"),
        (["--param", "count=1", "--param", "enabled=maybe"], "'enabled' must be true or false"),
        (["--param", "count=1", "--param", "sizes={}"], "'sizes' must be a list"),
        (["--param", "count=1", "--param", "nope=1"], "unknown parameter 'nope'; the pipeline"),
        ([], "parameter 'count' is required (--param count=...)"),
        (["--param", "count=1", "--label", "Team=x"], "labels key must start with a lowercase"),
        (["--param", "count=1", "--network", "default"], "network must be projects/<project"),
        (["--param", "count=1", "--job-id", "9lives"], "job_id must start with a lowercase"),
        (["--param", "count=1", "--experiment", "My Exp"], "experiment must hold lowercase"),
        (["--param", "count=1", "--display-name", "x" * 129], "display_name must be 1 to 128"),
        (["--param", "count=1", "--location", "EU"], "--location must be a Vertex AI region"),
        (
            ["--param", "count=1", "--location", "mars-west1"],
            "location must be a region Vertex AI serves, such as us-central1, got 'mars-west1'",
        ),
    ],
)
def test_bad_input_is_refused_before_any_request(vertex, tiny_yaml, capsys, args, message):
    assert submit(str(tiny_yaml), *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("vtp: error: ") and message in err
    assert vertex.calls() == []
    assert vertex.gcs.bucket_names() == []  # not even the bucket check


def test_params_file_values_are_type_checked_too(vertex, tiny_yaml, tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text("count: 1\nratio: fast\n")
    assert submit(str(tiny_yaml), "--params", str(params)) == 2
    assert "parameter 'ratio' must be a number, got 'fast'" in capsys.readouterr().err
    assert vertex.calls() == []


def test_catalog_pipeline_checks_run_before_any_request(vertex, capsys):
    assert submit("training", "--param", "train_fraction=0.9") == 2
    assert "sum to 1" in capsys.readouterr().err
    assert vertex.calls() == []


def test_missing_project_is_a_usage_error(vertex, tiny_yaml, capsys):
    assert main(["submit", str(tiny_yaml), "--param", "count=1"]) == 2
    assert "no project: pass --project PROJECT or set GOOGLE_CLOUD_PROJECT" in (
        capsys.readouterr().err
    )
    assert vertex.calls() == []


def test_project_and_location_come_from_the_environment(vertex, tiny_yaml, monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    monkeypatch.setenv("VTP_LOCATION", "us-central1")
    root = ["--pipeline-root", "gs://vtp-env-root/r", "--service-account", RUNNER]
    assert main(["submit", str(tiny_yaml), "--param", "count=1", *root]) == 0
    (call,) = vertex.calls("POST", "/pipelineJobs")
    assert call.path == "/v1/projects/p/locations/us-central1/pipelineJobs"


def test_experiment_gets_the_run(vertex, tiny_yaml):
    assert submit(str(tiny_yaml), "--param", "count=1", "--experiment", "churn") == 0
    context = vertex.context(
        "projects/p/locations/us-central1/metadataStores/default/contexts/churn"
    )
    assert context is not None and context.schema_title == "system.Experiment"
    (add,) = vertex.calls("POST", ":addContextChildren")
    stored = vertex.pipeline_jobs()[-1]
    assert add.body["childContexts"] == [stored.job_detail.pipeline_run_context.name]


def test_wait_prints_progress_and_exits_0_on_success(vertex, tiny_yaml, capsys):
    vertex.running_gets = 2
    code = submit(str(tiny_yaml), "--param", "count=1", "--wait", "--poll-interval", "0.01")
    captured = capsys.readouterr()
    assert code == 0
    progress = captured.err.splitlines()
    assert progress[0].startswith("vtp: submitting pipeline 'tiny' (")
    assert "  ok   add" in [line.split("  (")[0] for line in progress]
    assert "  ok   add-2" in [line.split("  (")[0] for line in progress]
    states = [line.split("  (")[0] for line in progress if line.startswith("  run  ")]
    assert states == ["  run  RUNNING", "  run  SUCCEEDED"]
    assert captured.out.splitlines()[-1] == "state    SUCCEEDED"


def test_wait_exits_1_with_the_failed_task_and_its_error(vertex, tiny_yaml, capsys):
    vertex.fail_next_pipeline_job(task="add-2", message="replica workerpool0-0 exited with 3")
    code = submit(str(tiny_yaml), "--param", "count=1", "--wait", "--poll-interval", "0.01")
    captured = capsys.readouterr()
    assert code == 1
    assert "  FAIL add-2" in captured.err
    assert "replica workerpool0-0 exited with 3" in captured.err
    lines = captured.out.splitlines()
    assert lines[-2] == "state    FAILED"
    assert lines[-1].startswith("error    ")


def test_vertex_refusals_are_one_line_and_exit_1(vertex, tiny_yaml, capsys):
    other = "projects/999/global/networks/vpc"  # well formed, but not this project's
    assert submit(str(tiny_yaml), "--param", "count=1", "--network", other) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        "vtp: error: Vertex AI refused to create the pipeline run: 400 INVALID_ARGUMENT: "
    )
    assert "Traceback" not in "\n".join(err)

    root = ["--pipeline-root", "gs://vtp-other-root/r", "--service-account", RUNNER]
    args = ["submit", str(tiny_yaml), "--param", "count=1", "--project", "other", *root]
    assert main(args) == 1
    assert "refused to create the pipeline run: 403 PERMISSION_DENIED" in capsys.readouterr().err

    # the SDK wraps the experiment's API error in a RuntimeError: still one line, exit 1
    args[args.index("gs://vtp-other-root/r")] = "gs://vtp-other-root-2/r"  # a new bucket
    assert main([*args, "--experiment", "churn"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("vtp: error: Vertex AI refused to create the pipeline run: 403 ")
    assert err.endswith("(Experiment churn could not be found or created. PipelineJob not created)")


def test_loopback_submit_refuses_what_would_reach_google(vertex, tiny_yaml, capsys):
    vertex.gcs.client().create_bucket("vtp-existing")
    root = ["--pipeline-root", "gs://vtp-existing/r", "--project", "p"]
    assert main(["submit", str(tiny_yaml), "--param", "count=1", *root]) == 2
    assert "pass --service-account" in capsys.readouterr().err
    assert (
        main(["submit", str(tiny_yaml), "--param", "count=1", *root, "--service-account", RUNNER])
        == 2
    )
    assert "bucket 'vtp-existing' already exists in the storage emulator" in capsys.readouterr().err
    assert vertex.calls() == []


def test_registry_template_sets_template_uri_and_version(vertex, capsys, shippable):
    from standins.artifact_registry import ArtifactRegistryStandIn

    from vtp.cloud import templates

    with ArtifactRegistryStandIn() as registry:
        host = registry.host_for("p", "pipelines")
        client = templates.registry_client(host)
        package, version = client.upload_pipeline(
            str(shippable / "pipelines/training.yaml"), tags=["v1"]
        )
        url = templates.template_url(host, package, "v1")
        assert submit(url, "--param", "split_seed=1") == 0, capsys.readouterr().err
    _, job = created(vertex)
    assert job.template_uri == url
    assert job.template_metadata.version == version
    assert version.startswith("sha256:")
    assert dict(job.runtime_config.parameter_values)["split_seed"] == 1


def test_ctrl_c_while_waiting_cancels_the_run_and_exits_130(vertex, tiny_yaml):
    """A real `vtp` process, interrupted with SIGINT while it follows the run."""
    vertex.running_gets = 10_000
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "vtp", "submit", str(tiny_yaml)),
            *("--param", "count=1", "--project", "p", "--service-account", RUNNER),
            *("--pipeline-root", "gs://vtp-sig/r", "--wait", "--poll-interval", "0.05"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: vertex.calls("GET", "/pipelineJobs/") or process.poll() is not None)
        assert vertex.calls("GET", "/pipelineJobs/"), "the run was never polled"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "vtp: interrupted: asked Vertex AI to cancel projects/p/locations/us-central1/" in err
    (cancel,) = vertex.calls("POST", ":cancel")
    assert cancel.path.endswith(out.splitlines()[0].split()[-1] + ":cancel")
    assert vertex.pipeline_jobs()[-1].state.name in (
        "PIPELINE_STATE_CANCELLING",
        "PIPELINE_STATE_CANCELLED",
    )
