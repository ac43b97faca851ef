"""The loopback Vertex AI stand-in (`tests/standins/vertex_api.py`) and the Cloud Storage
emulator helper (`tests/standins/gcs.py`), driven through the real clients: the
google-cloud-aiplatform SDK and the `aiplatform_v1` / `aiplatform_v1beta1` GAPIC clients over
the REST transport, with anonymous credentials. Each test names the stand-ins it uses; nothing
reaches Google.
"""

from __future__ import annotations

import copy
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml
from google.api_core import exceptions
from google.cloud import aiplatform, aiplatform_v1
from standins.gcs import gcs_emulator
from standins.vertex_api import VertexStandIn

TEMPLATE = Path(__file__).resolve().parents[1] / "compiled" / "pipelines" / "training.yaml"
SPEC = yaml.safe_load(TEMPLATE.read_text())
PARENT = "projects/p/locations/us-central1"
RUNNER = "runner@p.iam.gserviceaccount.com"
ROOT = "gs://vtp-root/runs"
State = aiplatform_v1.PipelineState
Task = aiplatform_v1.PipelineTaskDetail.State
ScheduleState = aiplatform_v1.Schedule.State


@pytest.fixture
def vertex():
    """The Vertex AI stand-in alone, for tests using GAPIC clients."""
    with VertexStandIn(project="p", location="us-central1") as standin:
        yield standin


@pytest.fixture
def sdk():
    """The Vertex AI stand-in and the Cloud Storage emulator, with the SDK initialised on
    them (the SDK checks the pipeline-root bucket on submit)."""
    with gcs_emulator() as gcs, VertexStandIn(project="p", location="us-central1") as standin:
        standin.init_sdk()
        standin.gcs = gcs
        yield standin


def _sdk_job(display_name: str = "train", **kwargs) -> aiplatform.PipelineJob:
    options = {"parameter_values": {"project": "p"}, "pipeline_root": ROOT, **kwargs}
    return aiplatform.PipelineJob(display_name=display_name, template_path=str(TEMPLATE), **options)


def _job(display_name: str = "train", **fields) -> aiplatform_v1.PipelineJob:
    """A PipelineJob message of the compiled training pipeline, as a GAPIC caller builds it."""
    body = {
        "display_name": display_name,
        "pipeline_spec": copy.deepcopy(SPEC),
        "runtime_config": {"gcs_output_directory": ROOT, "parameter_values": {"project": "p"}},
        **fields,
    }
    return aiplatform_v1.PipelineJob(body)


def _pipelines(standin: VertexStandIn):
    return standin.client(aiplatform_v1.PipelineServiceClient)


def _tasks(job: aiplatform_v1.PipelineJob) -> dict[str, aiplatform_v1.PipelineTaskDetail]:
    return {d.task_name: d for d in job.job_detail.task_details}


# --- PipelineJobs -------------------------------------------------------------------------------


def test_sdk_submit_creates_a_pending_job_that_runs_to_success(sdk):
    """Stand-ins: Vertex AI API and Cloud Storage emulator, through the SDK."""
    job = _sdk_job(job_id="train-1", labels={"team": "vision"})
    job.submit(service_account=RUNNER)

    create = sdk.calls("POST", "/pipelineJobs")[0]
    assert create.path == f"/v1/{PARENT}/pipelineJobs"
    assert create.query["pipelineJobId"] == ["train-1"]
    assert isinstance(create.message, aiplatform_v1.PipelineJob)
    assert create.message.runtime_config.parameter_values["project"] == "p"
    assert create.message.service_account == RUNNER
    # the SDK created the pipeline-root bucket in the emulator and granted the runner
    assert sdk.gcs.bucket_names() == ["vtp-root"]
    granted = sdk.gcs.iam_members("vtp-root")
    assert granted["roles/storage.objectCreator"] == {f"serviceAccount:{RUNNER}"}

    created = job.gca_resource
    assert created.name == f"{PARENT}/pipelineJobs/train-1"
    assert created.state == State.PIPELINE_STATE_PENDING and created.create_time
    assert created.labels["team"] == "vision"
    assert created.labels["vertex-ai-pipelines-run-billing-id"].isdigit()

    assert job.state == State.PIPELINE_STATE_RUNNING  # each GET moves the job on
    running = job.gca_resource
    tasks = _tasks(running)
    assert list(tasks)[:9] == [
        "training",  # the root task: the pipeline
        "load-dataset",
        "training-job-spec",
        "custom-training-job",
        "unmanaged-container-model",
        "evaluate-model",
        "metric-gate",
        "condition-1",
        "champion-lookup",
    ]
    assert sorted(list(tasks)[9:]) == [
        "condition-3",
        "condition-4",
        "condition-branches-2",
        "model-upload",
        "model-upload-2",
    ]
    assert tasks["load-dataset"].state == Task.RUNNING
    assert tasks["metric-gate"].state == Task.PENDING
    assert tasks["champion-lookup"].parent_task_id == tasks["condition-1"].task_id
    assert tasks["model-upload"].parent_task_id == tasks["condition-3"].task_id
    assert tasks["load-dataset"].parent_task_id == tasks["training"].task_id
    assert running.job_detail.pipeline_run_context.schema_title == "system.PipelineRun"
    assert running.start_time

    assert job.state == State.PIPELINE_STATE_SUCCEEDED
    done = job.gca_resource
    assert {d.state for d in done.job_detail.task_details} == {Task.SUCCEEDED}
    assert done.end_time >= done.start_time >= done.create_time
    assert job.state == State.PIPELINE_STATE_SUCCEEDED  # final states stay
    assert sdk.errors == []


def test_running_gets_paces_the_tasks_in_dependency_order(vertex):
    """Stand-in: Vertex AI API, through the GAPIC PipelineServiceClient."""
    vertex.running_gets = 4
    client = _pipelines(vertex)
    name = client.create_pipeline_job(parent=PARENT, pipeline_job=_job()).name
    seen = []
    for _ in range(5):
        job = client.get_pipeline_job(name=name)
        states = {n: Task(d.state).name for n, d in _tasks(job).items()}
        seen.append((State(job.state).name, states["load-dataset"], states["model-upload"]))
    assert seen == [
        ("PIPELINE_STATE_RUNNING", "RUNNING", "PENDING"),
        ("PIPELINE_STATE_RUNNING", "SUCCEEDED", "PENDING"),
        ("PIPELINE_STATE_RUNNING", "SUCCEEDED", "PENDING"),
        ("PIPELINE_STATE_RUNNING", "SUCCEEDED", "PENDING"),
        ("PIPELINE_STATE_SUCCEEDED", "SUCCEEDED", "SUCCEEDED"),
    ]
    assert [job.name for job in vertex.pipeline_jobs()] == [name]


def test_a_planned_failure_fails_its_task_and_what_depends_on_it(vertex):
    """Stand-in: Vertex AI API, through the GAPIC PipelineServiceClient."""
    client = _pipelines(vertex)
    vertex.fail_next_pipeline_job(task="custom-training-job", message="workerpool0-0 exited 1")
    name = client.create_pipeline_job(parent=PARENT, pipeline_job=_job()).name
    client.get_pipeline_job(name=name)
    job = client.get_pipeline_job(name=name)
    assert job.state == State.PIPELINE_STATE_FAILED
    assert job.error.code == 9
    assert "The failed tasks are: [custom-training-job]" in job.error.message
    states = {n: Task(d.state).name for n, d in _tasks(job).items()}
    assert states == {
        "training": "FAILED",
        "load-dataset": "SUCCEEDED",
        "training-job-spec": "SUCCEEDED",
        "custom-training-job": "FAILED",
        "unmanaged-container-model": "NOT_TRIGGERED",
        "evaluate-model": "NOT_TRIGGERED",
        "metric-gate": "NOT_TRIGGERED",
        "condition-1": "NOT_TRIGGERED",
        "champion-lookup": "NOT_TRIGGERED",
        "condition-branches-2": "NOT_TRIGGERED",
        "condition-3": "NOT_TRIGGERED",
        "model-upload": "NOT_TRIGGERED",
        "condition-4": "NOT_TRIGGERED",
        "model-upload-2": "NOT_TRIGGERED",
    }
    assert _tasks(job)["custom-training-job"].error.message == "workerpool0-0 exited 1"

    # the rule was for one job; a rule by display name holds for every job with that name
    vertex.running_gets = 0
    again = client.create_pipeline_job(parent=PARENT, pipeline_job=_job()).name
    assert client.get_pipeline_job(name=again).state == State.PIPELINE_STATE_SUCCEEDED
    vertex.fail_pipeline_jobs("nightly", task="model-upload", message="upload refused")
    for _ in range(2):
        nested = client.create_pipeline_job(parent=PARENT, pipeline_job=_job("nightly")).name
        failed = client.get_pipeline_job(name=nested)
        assert failed.state == State.PIPELINE_STATE_FAILED
        assert _tasks(failed)["condition-1"].state == Task.FAILED  # the DAG holding it
        assert _tasks(failed)["metric-gate"].state == Task.SUCCEEDED

    vertex.fail_next_pipeline_job(task="no-such-task")
    with pytest.raises(exceptions.InternalServerError, match="does not have.*load-dataset"):
        client.create_pipeline_job(parent=PARENT, pipeline_job=_job())


def test_a_false_condition_skips_its_branch_and_the_dags_above_succeed(vertex):
    """Stand-in: Vertex AI API, through the GAPIC PipelineServiceClient."""
    client = _pipelines(vertex)
    vertex.running_gets = 2
    vertex.skip_in_next_pipeline_job("condition-3")
    name = client.create_pipeline_job(parent=PARENT, pipeline_job=_job()).name
    running = _tasks(client.get_pipeline_job(name=name))
    assert running["model-upload"].state == Task.PENDING  # not reached yet
    client.get_pipeline_job(name=name)
    job = client.get_pipeline_job(name=name)
    assert not _tasks(job)["model-upload"].start_time
    assert job.state == State.PIPELINE_STATE_SUCCEEDED
    states = {n: Task(d.state).name for n, d in _tasks(job).items()}
    assert states["condition-3"] == states["model-upload"] == "SKIPPED"
    assert states["condition-4"] == states["model-upload-2"] == "SUCCEEDED"
    assert states["condition-branches-2"] == states["condition-1"] == "SUCCEEDED"

    vertex.skip_in_next_pipeline_job("model-upload")  # a task, not a condition
    with pytest.raises(exceptions.InternalServerError, match="not a condition.*condition-3"):
        client.create_pipeline_job(parent=PARENT, pipeline_job=_job())


def test_cancel_and_delete(vertex):
    """Stand-in: Vertex AI API (an operation for the delete), through the GAPIC client."""
    vertex.running_gets = 10
    client = _pipelines(vertex)
    name = client.create_pipeline_job(parent=PARENT, pipeline_job=_job()).name
    assert client.get_pipeline_job(name=name).state == State.PIPELINE_STATE_RUNNING
    with pytest.raises(exceptions.BadRequest, match="Cannot delete .* PIPELINE_STATE_RUNNING"):
        client.delete_pipeline_job(name=name)
    client.cancel_pipeline_job(name=name)
    assert vertex.pipeline_job(name).state == State.PIPELINE_STATE_CANCELLING
    job = client.get_pipeline_job(name=name)
    assert job.state == State.PIPELINE_STATE_CANCELLED and job.error.code == 1
    assert _tasks(job)["load-dataset"].state == Task.CANCELLED
    with pytest.raises(exceptions.BadRequest, match="already PIPELINE_STATE_CANCELLED"):
        client.cancel_pipeline_job(name=name)
    client.delete_pipeline_job(name=name).result(timeout=30)
    assert vertex.calls("GET", "/operations/")  # the operation was polled until done
    with pytest.raises(exceptions.NotFound, match=f"PipelineJob {name} not found"):
        client.get_pipeline_job(name=name)


def test_list_filters_orders_and_pages(vertex):
    """Stand-in: Vertex AI API, through the GAPIC client and the SDK's `PipelineJob.list`."""
    vertex.running_gets = 0
    client = _pipelines(vertex)
    names = []
    for display, labels in [("alpha", {"team": "vision"}), ("alpine", {}), ("beta", {})]:
        job = client.create_pipeline_job(parent=PARENT, pipeline_job=_job(display, labels=labels))
        names.append(job.name)
    client.get_pipeline_job(name=names[1])  # -> SUCCEEDED

    def listed(**request) -> list[str]:
        found = client.list_pipeline_jobs(request={"parent": PARENT, **request})
        return [j.display_name for j in found]

    assert listed() == ["beta", "alpine", "alpha"]  # create_time desc by default
    assert listed(order_by="create_time") == ["alpha", "alpine", "beta"]
    assert listed(filter='display_name="alp*"') == ["alpine", "alpha"]
    assert listed(filter='displayName:"*ph*"') == ["alpha"]
    assert listed(filter='labels.team="vision"') == ["alpha"]
    assert listed(filter="labels.team:*") == ["alpha"]
    assert listed(filter='NOT display_name="alpha" AND pipeline_name="training"') == [
        "beta",
        "alpine",
    ]
    assert listed(filter="state=PIPELINE_STATE_SUCCEEDED") == ["alpine"]
    assert listed(filter='state="PIPELINE_STATE_PENDING" OR display_name="none"') == [
        "beta",
        "alpha",
    ]
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(listed(filter=f'create_time>"{since}"')) == 3
    assert listed(filter='create_time<"2000-01-01T00:00:00Z"') == []

    vertex.requests.clear()
    assert listed(page_size=2) == ["beta", "alpine", "alpha"]  # the pager asks twice
    pages = vertex.calls("GET", "/pipelineJobs")
    assert [p.query.get("pageToken") is None for p in pages] == [True, False]

    for request, message in [
        ({"filter": 'owner="me"'}, "unsupported field 'owner'; supported fields: create_time"),
        ({"filter": "state=DONE"}, "state must be one of PIPELINE_STATE_UNSPECIFIED"),
        ({"filter": 'create_time>"yesterday"'}, "RFC 3339 timestamp"),
        ({"filter": 'display_name="a" AND ('}, "ends too early"),
        ({"order_by": "display_name"}, "order_by: unsupported field 'display_name'"),
        ({"page_token": "bogus"}, "page_token must be a next_page_token"),
    ]:
        with pytest.raises(exceptions.BadRequest, match=message):
            listed(**request)


def test_list_leaves_out_job_detail_and_honours_the_read_mask(vertex):
    """Stand-in: Vertex AI API, raw REST (the JSON itself is under test)."""
    client = _pipelines(vertex)
    name = client.create_pipeline_job(parent=PARENT, pipeline_job=_job()).name
    client.get_pipeline_job(name=name)  # RUNNING: the job now has a job_detail
    url = f"{vertex.endpoint}/v1/{PARENT}/pipelineJobs"
    full = requests.get(url, timeout=10).json()["pipelineJobs"][0]
    assert "jobDetail" not in full and full["state"] == "PIPELINE_STATE_RUNNING"
    masked = requests.get(url, params={"readMask": "name,pipelineSpec.pipelineInfo"}, timeout=10)
    assert masked.json()["pipelineJobs"] == [
        {"name": name, "pipelineSpec": {"pipelineInfo": SPEC["pipelineInfo"]}}
    ]
    assert "jobDetail" in requests.get(f"{vertex.endpoint}/v1/{name}", timeout=10).json()


BAD_JOBS = [
    ({"pipeline_spec": {}}, "pipeline_job.pipeline_spec is required"),
    (
        {"runtime_config": {"gcs_output_directory": "/tmp/root", "parameter_values": {}}},
        "runtime_config.gcs_output_directory must be a gs://BUCKET/... URI, got '/tmp/root'",
    ),
    (
        {"runtime_config": {"parameter_values": {"project": "p"}}},
        "gcs_output_directory is required",
    ),
    (
        {"runtime_config": {"gcs_output_directory": ROOT, "parameter_values": {"projet": "p"}}},
        "parameter_values['projet'] is not an input of the pipeline (its parameters: "
        "accelerator_count",
    ),
    (
        {"runtime_config": {"gcs_output_directory": ROOT, "parameter_values": {}}},
        "must give the pipeline's required parameter 'project'",
    ),
    (
        {
            "runtime_config": {
                "gcs_output_directory": ROOT,
                "parameter_values": {"project": "p", "split_seed": 4.5},
            }
        },
        "parameter_values['split_seed'] must be an integer (the pipeline declares it "
        "NUMBER_INTEGER), got 4.5",
    ),
    (
        {
            "runtime_config": {
                "gcs_output_directory": ROOT,
                "parameter_values": {"project": "p", "train_fraction": "0.8"},
            }
        },
        "parameter_values['train_fraction'] must be a number",
    ),
    ({"labels": {"Team": "x"}}, "pipeline_job.labels key must be 1-64 characters"),
    ({"labels": {"team": "Vision"}}, "pipeline_job.labels['team'] must be at most 64"),
    ({"display_name": "x" * 129}, "display_name must be at most 128 characters (it has 129)"),
    ({"service_account": "runner"}, "service_account must be a service account email"),
    (
        {"network": "projects/p/global/networks/vpc"},
        "network must be projects/PROJECT_NUMBER/global/networks/NETWORK",
    ),
    (
        {"network": "projects/999/global/networks/vpc"},
        "network must name a network of project p by its number",
    ),
    (
        {
            "encryption_spec": {
                "kms_key_name": "projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k"
            }
        },
        "kms_key_name must be a key in the job's location us-central1",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD_JOBS)
def test_a_job_vertex_would_refuse_is_a_400_naming_the_field(vertex, fields, message):
    """Stand-in: Vertex AI API, through the GAPIC client (which sends what it is given)."""
    client = _pipelines(vertex)
    with pytest.raises(exceptions.BadRequest) as err:
        client.create_pipeline_job(parent=PARENT, pipeline_job=_job(**fields))
    assert message in err.value.message
    assert not isinstance(err.value, exceptions.InvalidArgument)  # REST: by HTTP status
    answered = err.value.response.json()["error"]
    assert answered["status"] == "INVALID_ARGUMENT" and answered["code"] == 400
    assert vertex.pipeline_jobs() == []
    assert vertex.calls("POST")[-1].status == 400


def test_malformed_requests_ids_and_places(vertex):
    """Stand-in: Vertex AI API, through the GAPIC client and raw REST."""
    client = _pipelines(vertex)
    url = f"{vertex.endpoint}/v1/{PARENT}/pipelineJobs"
    body = {"displayName": "x", "pipelineSpec": SPEC, "runtimeConfig": {"gcsOutputDirectory": ROOT}}
    answer = requests.post(url, json={**body, "retries": 3}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Invalid JSON payload received. Unknown name \"retries\" at 'pipeline_job': "
        "Cannot find field."
    )
    nested = {**body, "runtimeConfig": {"gcsOutputDirectory": ROOT, "parameterValue": {}}}
    answer = requests.post(url, json=nested, timeout=10)
    message = answer.json()["error"]["message"]
    assert "Unknown name \"parameterValue\" at 'pipeline_job.runtime_config'" in message
    answer = requests.post(url, params={"jobId": "x"}, json=body, timeout=10)
    assert answer.status_code == 400
    assert 'Unknown name "jobId": Cannot bind query parameter' in answer.json()["error"]["message"]

    with pytest.raises(exceptions.BadRequest, match="pipeline_job_id must be 1-128 characters"):
        client.create_pipeline_job(parent=PARENT, pipeline_job=_job(), pipeline_job_id="Bad_Id")
    client.create_pipeline_job(parent=PARENT, pipeline_job=_job(), pipeline_job_id="run-1")
    with pytest.raises(exceptions.Conflict, match="run-1 already exists"):
        client.create_pipeline_job(parent=PARENT, pipeline_job=_job(), pipeline_job_id="run-1")

    with pytest.raises(exceptions.Forbidden, match="project other"):
        client.create_pipeline_job(
            parent="projects/other/locations/us-central1", pipeline_job=_job()
        )
    by_number = client.list_pipeline_jobs(parent="projects/123456789012/locations/us-central1")
    assert list(by_number) == []  # the project's number is the same project
    with pytest.raises(exceptions.BadRequest, match="'europe-west4' is not served"):
        client.list_pipeline_jobs(parent="projects/p/locations/europe-west4")
    with pytest.raises(exceptions.NotFound, match=r"answers GET /v1/.*/trainingPipelines"):
        client.list_training_pipelines(parent=PARENT)
    assert vertex.errors == []


def test_sdk_submit_surfaces_a_conflict_and_v1beta1_is_served(sdk):
    """Stand-ins: Vertex AI API (v1 through the SDK, v1beta1 through its GAPIC client) and
    the Cloud Storage emulator."""
    _sdk_job(job_id="same").submit(service_account=RUNNER)
    with pytest.raises(exceptions.Conflict) as err:  # a new root bucket: see gcs.py
        _sdk_job(job_id="same", pipeline_root="gs://vtp-root-2/runs").submit(service_account=RUNNER)
    assert "pipelineJobs/same already exists" in err.value.message
    assert not isinstance(err.value, exceptions.AlreadyExists)  # REST: by HTTP status

    from google.cloud import aiplatform_v1beta1

    beta = sdk.client(aiplatform_v1beta1.PipelineServiceClient)
    job = aiplatform_v1beta1.PipelineJob(
        display_name="beta",
        pipeline_spec=SPEC,
        runtime_config={"gcs_output_directory": ROOT, "parameter_values": {"project": "p"}},
    )
    created = beta.create_pipeline_job(parent=PARENT, pipeline_job=job, pipeline_job_id="b-1")
    assert created.state == aiplatform_v1beta1.PipelineState.PIPELINE_STATE_PENDING
    assert sdk.calls("POST", "/v1beta1/")[0].message.display_name == "beta"
    fetched = aiplatform.PipelineJob.get(created.name)  # through v1, one GET
    assert fetched.gca_resource.state == State.PIPELINE_STATE_RUNNING


def test_sdk_experiment_association(sdk):
    """Stand-ins: Vertex AI API (metadata store, contexts, operations) and the Cloud Storage
    emulator, through `PipelineJob.submit(experiment=...)`."""
    job = _sdk_job(job_id="exp-run")
    job.submit(service_account=RUNNER, experiment="churn-model")
    store = f"{PARENT}/metadataStores/default"
    experiment = sdk.context(f"{store}/contexts/churn-model")
    assert experiment.schema_title == "system.Experiment"
    run = sdk.context(f"{store}/contexts/exp-run")
    assert run.schema_title == "system.PipelineRun"
    assert set(run.parent_contexts) == {experiment.name, f"{store}/contexts/training"}
    assert run.metadata["input:project"] == "p"
    # the store was created through an operation the SDK polled under /ui/
    assert [r.path.split("/operations/")[0] for r in sdk.calls("GET", "/operations/")] == [
        f"/ui/{store}"
    ]
    found = aiplatform.Experiment("churn-model")
    assert found.name == "churn-model"
    # a second run joins the same experiment
    again = _sdk_job(job_id="exp-run-2", pipeline_root="gs://vtp-root-2/runs")
    again.submit(service_account=RUNNER, experiment="churn-model")
    assert experiment.name in sdk.context(f"{store}/contexts/exp-run-2").parent_contexts
    assert sdk.errors == []


# --- Schedules ----------------------------------------------------------------------------------


def test_schedules_through_the_sdk(sdk):
    """Stand-in: Vertex AI API, through `PipelineJobSchedule` and `PipelineJob.list`."""
    job = _sdk_job()
    schedule = aiplatform.PipelineJobSchedule(pipeline_job=job, display_name="weekday-train")
    schedule.create(cron="TZ=America/New_York 0 9 * * 1-5", max_run_count=2)
    created = sdk.calls("POST", "/schedules")[0].message
    assert isinstance(created, aiplatform_v1.Schedule)
    assert created.create_pipeline_job_request.parent == PARENT
    stored = sdk.schedule(schedule.resource_name)
    assert stored.state == ScheduleState.ACTIVE and stored.max_concurrent_run_count == 1
    fire = stored.next_run_time.astimezone(ZoneInfo("America/New_York"))
    assert (fire.hour, fire.minute) == (9, 0) and fire.weekday() < 5
    assert datetime.now(UTC) < fire < datetime.now(UTC) + timedelta(days=4)

    schedule.pause()
    assert aiplatform.PipelineJobSchedule.get(schedule.resource_name).state == ScheduleState.PAUSED
    with pytest.raises(exceptions.BadRequest, match="only an ACTIVE schedule can be paused"):
        schedule.pause()
    schedule.resume()
    assert sdk.schedule(schedule.resource_name).state == ScheduleState.ACTIVE

    schedule.update(display_name="weekday-train-2", cron="30 6 * * *")
    patch = sdk.calls("PATCH")[0]
    assert sorted(patch.query["updateMask"][0].split(",")) == ["cron", "displayName"]
    updated = sdk.schedule(schedule.resource_name)
    assert updated.display_name == "weekday-train-2"
    assert (updated.next_run_time.hour, updated.next_run_time.minute) == (6, 30)

    first = sdk.fire_schedule(schedule.resource_name)
    second = sdk.fire_schedule(schedule.resource_name)
    assert sdk.pipeline_job(first).schedule_name == schedule.resource_name
    done = sdk.schedule(schedule.resource_name)
    assert done.state == ScheduleState.COMPLETED and done.started_run_count == 2
    assert done.last_scheduled_run_response.run_response == second
    assert sorted(j.resource_name for j in schedule.list_jobs()) == sorted([first, second])
    with pytest.raises(ValueError, match="COMPLETED: only an ACTIVE schedule starts runs"):
        sdk.fire_schedule(schedule.resource_name)
    with pytest.raises(exceptions.BadRequest, match="only an ACTIVE or PAUSED schedule"):
        schedule.update(display_name="again")

    listed = aiplatform.PipelineJobSchedule.list(filter='state="COMPLETED"')
    assert [s.resource_name for s in listed] == [schedule.resource_name]
    assert aiplatform.PipelineJobSchedule.list(filter='display_name="other*"') == []
    schedule.delete()
    assert sdk.calls("GET", "/operations/")[-1].path.startswith(f"/ui/{schedule.resource_name}/")
    with pytest.raises(exceptions.NotFound):
        aiplatform.PipelineJobSchedule.get(schedule.resource_name)


def _schedule(**fields) -> aiplatform_v1.Schedule:
    body = {
        "display_name": "nightly",
        "cron": "0 3 * * *",
        "max_concurrent_run_count": 1,
        "create_pipeline_job_request": {"parent": PARENT, "pipeline_job": _job()},
        **fields,
    }
    return aiplatform_v1.Schedule(body)


def test_resume_with_catch_up_starts_from_the_first_missed_run(vertex):
    """Stand-in: Vertex AI API, through the GAPIC ScheduleServiceClient (the SDK's
    `resume()` does not send `catch_up`)."""
    client = vertex.client(aiplatform_v1.ScheduleServiceClient)
    name = client.create_schedule(parent=PARENT, schedule=_schedule(cron="*/5 * * * *")).name
    client.pause_schedule(name=name)
    paused_at = datetime.now(UTC) - timedelta(hours=1)
    vertex.schedules.schedules[name].last_pause_time = paused_at  # paused an hour ago
    client.resume_schedule(request={"name": name, "catch_up": True})
    resumed = client.get_schedule(name=name)
    assert resumed.catch_up and resumed.state == ScheduleState.ACTIVE
    first_missed = (paused_at + timedelta(minutes=5 - paused_at.minute % 5)).replace(
        second=0, microsecond=0
    )
    assert resumed.next_run_time == first_missed
    assert vertex.calls("POST", ":resume")[0].message.catch_up is True

    client.pause_schedule(name=name)
    client.resume_schedule(name=name)  # no catch_up: the next fire time after now
    plain = client.get_schedule(name=name)
    assert not plain.catch_up and plain.next_run_time > datetime.now(UTC)
    with pytest.raises(exceptions.BadRequest, match="only a PAUSED schedule can be resumed"):
        client.resume_schedule(name=name)


def test_schedule_list_and_start_end_times(vertex):
    """Stand-in: Vertex AI API, through the GAPIC ScheduleServiceClient."""
    client = vertex.client(aiplatform_v1.ScheduleServiceClient)
    start = datetime.now(UTC) + timedelta(days=30)
    later = client.create_schedule(
        parent=PARENT, schedule=_schedule(display_name="later", start_time=start)
    )
    assert later.next_run_time >= start and later.next_run_time - start < timedelta(days=1)
    ending = datetime.now(UTC) + timedelta(minutes=1)
    short = client.create_schedule(
        parent=PARENT, schedule=_schedule(display_name="short", cron="0 3 1 1 *", end_time=ending)
    )
    assert short.state == ScheduleState.COMPLETED and "next_run_time" not in short
    client.pause_schedule(name=later.name)

    def listed(**request) -> list[str]:
        found = client.list_schedules(request={"parent": PARENT, **request})
        return [s.display_name for s in found]

    assert listed() == ["short", "later"]
    assert listed(filter="state=PAUSED") == ["later"]
    assert listed(filter="create_pipeline_job_request:*", order_by="create_time") == [
        "later",
        "short",
    ]
    assert listed(filter="end_time:*") == ["short"]
    assert listed(filter=f'start_time>"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"') == ["later"]
    assert listed(page_size=1) == ["short", "later"]
    with pytest.raises(exceptions.BadRequest, match="order_by: unsupported field 'state'"):
        listed(order_by="state")


BAD_SCHEDULES = [
    ({"cron": "61 * * * *"}, "minute value 61 is out of range 0-59"),
    ({"cron": "* * * *"}, "must have 5 fields"),
    ({"cron": "0 0 32 * *"}, "day of month value 32 is out of range 1-31"),
    ({"cron": "0 0 * 13 *"}, "month value 13 is out of range 1-12"),
    ({"cron": "0 0 * * 8"}, "day of week value 8 is out of range 0-7"),
    ({"cron": "*/0 * * * *"}, "minute step in '*/0' must be a number >= 1"),
    ({"cron": "0 5-2 * * *"}, "hour range '5-2' runs backwards"),
    ({"cron": "TZ=Mars/Olympus 0 0 * * *"}, "time zone 'Mars/Olympus' is not an IANA"),
    ({"cron": "@daily"}, "must have 5 fields"),
    ({"cron": ""}, "schedule.cron is required"),
    ({"display_name": ""}, "schedule.display_name is required"),
    ({"max_concurrent_run_count": 0}, "schedule.max_concurrent_run_count must be >= 1, got 0"),
    ({"max_run_count": -1}, "schedule.max_run_count must be >= 0, got -1"),
    (
        {
            "start_time": datetime(2030, 1, 2, tzinfo=UTC),
            "end_time": datetime(2030, 1, 1, tzinfo=UTC),
        },
        "schedule.end_time must be after start_time 2030-01-02T00:00:00",
    ),
    ({"end_time": datetime(2020, 1, 1, tzinfo=UTC)}, "schedule.end_time must be in the future"),
    (
        {"create_pipeline_job_request": {"parent": "projects/p/locations/europe-west4"}},
        "create_pipeline_job_request.parent must be the schedule's parent",
    ),
    (
        {
            "create_pipeline_job_request": {
                "parent": PARENT,
                "pipeline_job": _job(runtime_config={"gcs_output_directory": "s3://x"}),
            }
        },
        "schedule.create_pipeline_job_request.pipeline_job.runtime_config.gcs_output_directory "
        "must be a gs://",
    ),
    (
        {"create_pipeline_job_request": {"parent": PARENT, "pipeline_job_id": "fixed"}},
        "pipeline_job_id must be empty",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD_SCHEDULES)
def test_a_schedule_vertex_would_refuse_is_a_400_naming_the_field(vertex, fields, message):
    """Stand-in: Vertex AI API, through the GAPIC ScheduleServiceClient."""
    client = vertex.client(aiplatform_v1.ScheduleServiceClient)
    schedule = _schedule(**fields)
    if fields.get("create_pipeline_job_request", {}).get("pipeline_job_id"):
        schedule.create_pipeline_job_request.pipeline_job = _job()
    with pytest.raises(exceptions.BadRequest) as err:
        client.create_schedule(parent=PARENT, schedule=schedule)
    assert message in err.value.message
    assert list(client.list_schedules(parent=PARENT)) == []


def test_schedule_cron_time_zones_and_weekday_rules(vertex):
    """Stand-in: Vertex AI API, through the GAPIC client: `next_run_time` per cron."""
    client = vertex.client(aiplatform_v1.ScheduleServiceClient)

    def next_run(cron: str) -> datetime:
        return client.create_schedule(parent=PARENT, schedule=_schedule(cron=cron)).next_run_time

    tokyo = next_run("CRON_TZ=Asia/Tokyo 0 9 * * *").astimezone(ZoneInfo("Asia/Tokyo"))
    assert (tokyo.hour, tokyo.minute) == (9, 0)
    utc = next_run("15 10 * * *")
    assert (utc.hour, utc.minute) == (10, 15)
    # both day fields restricted: the 13th of any month OR any Friday (cron(5))
    either = next_run("0 0 13 * FRI")
    assert either.day == 13 or either.weekday() == 4
    assert either - datetime.now(UTC) <= timedelta(days=7)
    jan = next_run("0 0 1 JAN *")
    assert (jan.month, jan.day) == (1, 1)


# --- seeded resources and the Cloud Storage helper ----------------------------------------------


def test_seeded_models_and_tuning_jobs(vertex):
    """Stand-in: Vertex AI API (seeded models), through the GAPIC ModelServiceClient."""
    client = vertex.client(aiplatform_v1.ModelServiceClient)
    model = f"{PARENT}/models/42"
    for version, aliases in [("1", ["champion"]), ("2", ["default"])]:
        vertex.add_model_version(
            {"name": model, "versionId": version, "versionAliases": aliases, "displayName": "clf"}
        )
    assert [m.version_id for m in client.list_models(parent=PARENT)] == ["2"]
    assert client.get_model(name=f"{model}@champion").version_id == "1"
    assert client.get_model(name=f"{model}@1").version_aliases == ["champion"]
    assert [v.version_id for v in client.list_model_versions(name=model)] == ["1", "2"]
    with pytest.raises(exceptions.NotFound, match="models/42@gold not found"):
        client.get_model(name=f"{model}@gold")
    with pytest.raises(Exception, match="Unknown name|no field named|Cannot find field"):
        vertex.add_model_version({"name": model, "versionAlias": ["typo"]})
    jobs = vertex.client(aiplatform_v1.JobServiceClient)
    with pytest.raises(exceptions.NotFound, match="HyperparameterTuningJob .*/7 not found"):
        jobs.get_hyperparameter_tuning_job(name=f"{PARENT}/hyperparameterTuningJobs/7")


def test_gcs_emulator_sets_and_restores_storage_emulator_host(monkeypatch):
    """Stand-in: the Cloud Storage emulator, through `google.cloud.storage`."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    with gcs_emulator("data", "models") as gcs:
        assert os.environ["STORAGE_EMULATOR_HOST"] == gcs.host != "http://127.0.0.1:9"
        client = storage.Client(project="p", credentials=AnonymousCredentials())
        client.bucket("data").blob("a/b.csv").upload_from_string("x,y\n1,2\n")
        assert gcs.client().bucket("data").blob("a/b.csv").download_as_text() == "x,y\n1,2\n"
        assert gcs.bucket_names() == ["data", "models"]
    assert os.environ["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:9"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{gcs.host}/storage/v1/b", timeout=5)


def test_init_sdk_points_the_sdk_here_until_stop():
    """Stand-in: Vertex AI API, through the SDK; its global config is reset on stop."""
    from google.cloud.aiplatform import initializer

    with VertexStandIn(project="p2", location="europe-west4") as standin:
        standin.init_sdk()
        assert initializer.global_config.api_endpoint == standin.endpoint
        assert aiplatform.PipelineJob.list() == []
        assert standin.calls("GET")[0].path == "/v1/projects/p2/locations/europe-west4/pipelineJobs"
    assert initializer.global_config.api_endpoint is None
    with pytest.raises(RuntimeError, match="not started"):
        _ = standin.endpoint
