"""PipelineJobs in the Vertex AI stand-in: create (checked), get (which moves the job on),
list, cancel and delete."""

from __future__ import annotations

from typing import Any

from google.cloud import aiplatform_v1

from standins.vertex_common import (
    ID,
    LOCATION,
    Call,
    apply_read_mask,
    decode,
    list_page,
    now,
    route,
    to_json,
)
from standins.vertex_errors import ApiError, invalid, not_found, precondition
from standins.vertex_pipeline_checks import BILLING_LABEL, JOB_ID, validate_job
from standins.vertex_pipeline_tasks import (
    JobRecord,
    Outcome,
    State,
    TaskState,
    check_outcome,
    failure_message,
    filter_values,
    flatten_tasks,
    task_details,
    task_states,
)

FINAL = {
    State.PIPELINE_STATE_SUCCEEDED,
    State.PIPELINE_STATE_FAILED,
    State.PIPELINE_STATE_CANCELLED,
}

FILTER_FIELDS = {
    "pipeline_name": "string",
    "display_name": "string",
    "pipeline_job_user_id": "string",
    "state": "enum:" + ",".join(s.name for s in State),
    "create_time": "time",
    "update_time": "time",
    "end_time": "time",
    "labels": "map",
    "template_uri": "string",
    "template_metadata": "map",
    "schedule_name": "string",
}
ORDER_FIELDS = ("create_time", "update_time", "end_time", "start_time")


class PipelineService:
    """`pipelineJobs`: create, get (which advances the job), list, cancel, delete."""

    def __init__(self, standin):
        self.standin = standin
        self.jobs: dict[str, JobRecord] = {}
        self.rules: list[tuple[str | None, Outcome, bool]] = []

    def routes(self):
        jobs = f"{LOCATION}/pipelineJobs"
        return [
            route("POST", jobs, self.create, "pipelineJobId"),
            route("GET", jobs, self.list, "filter", "pageSize", "pageToken", "orderBy", "readMask"),
            route("GET", f"{jobs}/(?P<id>{ID})", self.get),
            route("POST", f"{jobs}/(?P<id>{ID}):cancel", self.cancel),
            route("DELETE", f"{jobs}/(?P<id>{ID})", self.delete),
        ]

    # creation, also used by schedules

    def _outcome(self, display_name: str) -> Outcome:
        for i, (name, outcome, once) in enumerate(self.rules):
            if name is None or name == display_name:
                if once:
                    del self.rules[i]
                return outcome
        return Outcome()

    def check_job(self, parent: str, job: aiplatform_v1.PipelineJob, where: str) -> dict[str, Any]:
        """Checks `job` as a create under `parent` would and returns its spec."""
        project, location = parent.split("/")[1], parent.split("/")[3]
        return validate_job(
            job,
            project=project,
            location=location,
            project_ids={self.standin.project_number},
            where=where,
        )

    def create_job(
        self,
        parent: str,
        job: aiplatform_v1.PipelineJob,
        job_id: str,
        *,
        where: str = "pipeline_job",
        schedule_name: str = "",
    ) -> aiplatform_v1.PipelineJob:
        standin = self.standin
        spec = self.check_job(parent, job, where)
        pipeline = spec["pipelineInfo"]["name"]
        if job_id and not JOB_ID.match(job_id):
            raise invalid(
                "pipeline_job_id",
                job_id,
                "must be 1-128 characters of lowercase letters, digits and '-', "
                "starting with a letter",
            )
        seq = standin.next_seq()
        job_id = job_id or f"{pipeline}-{now().strftime('%Y%m%d%H%M%S')}{seq:03d}"
        name = f"{parent}/pipelineJobs/{job_id}"
        if name in self.jobs:
            raise ApiError(409, f"PipelineJob {name} already exists")
        stored = aiplatform_v1.PipelineJob(job)
        created = now()
        stored.name = name
        stored.state = State.PIPELINE_STATE_PENDING
        stored.create_time = created
        stored.update_time = created
        stored.schedule_name = schedule_name
        stored.labels[BILLING_LABEL] = str(10**15 + seq)
        for output_only in ("start_time", "end_time", "error", "job_detail"):
            aiplatform_v1.PipelineJob.pb(stored).ClearField(output_only)
        base = (10**15 + seq) * 1000
        record = JobRecord(
            job=stored,
            outcome=self._outcome(job.display_name),
            tasks=flatten_tasks(spec, base),
            seq=seq,
            root_id=base,
            spec=spec,
        )
        check_outcome(record.outcome, record.tasks, pipeline)
        self.jobs[name] = record
        return aiplatform_v1.PipelineJob(stored)

    def create(self, call: Call):
        job = decode(call, aiplatform_v1.PipelineJob, "pipeline_job")
        parent = f"projects/{call.params['project']}/locations/{call.params['location']}"
        return self.create_job(parent, job, call.arg("pipelineJobId"))

    # reading

    def record(self, call: Call) -> JobRecord:
        name = self.standin.name_of(call, "pipelineJobs")
        record = self.jobs.get(name)
        if record is None:
            raise not_found(f"PipelineJob {name}")
        return record

    def get(self, call: Call):
        record = self.record(call)
        self.advance(record)
        return record.job

    def list(self, call: Call):
        parent = self.standin.parent_of(call)
        items = [r for r in self.jobs.values() if r.job.name.startswith(parent + "/")]
        page, token = list_page(
            call,
            items,
            fields=filter_values,
            filter_fields=FILTER_FIELDS,
            order_fields=ORDER_FIELDS,
            default_order="create_time desc",
            page_size=self.standin.default_page_size,
        )
        bodies = []
        for record in page:
            body = to_json(record.job, call.int_enums)
            body.pop("jobDetail", None)  # "not available in the list view"
            bodies.append(apply_read_mask(body, call.arg("readMask")))
        answer: dict[str, Any] = {"pipelineJobs": bodies}
        if token:
            answer["nextPageToken"] = token
        return answer

    # changing

    def cancel(self, call: Call):
        record = self.record(call)
        call.json()
        state = record.job.state
        if state in FINAL:
            raise precondition(
                f"Cannot cancel PipelineJob {record.job.name}: it is already {State(state).name}"
            )
        record.job.state = State.PIPELINE_STATE_CANCELLING
        record.job.update_time = now()
        return {}

    def delete(self, call: Call):
        record = self.record(call)
        if record.job.state not in FINAL:
            raise precondition(
                f"Cannot delete PipelineJob {record.job.name} in state "
                f"{State(record.job.state).name}: cancel it and wait until it ends"
            )
        del self.jobs[record.job.name]
        return self.standin.operations.start(
            record.job.name, "DeleteOperationMetadata", None, call.version
        )

    # the life of a job

    def advance(self, record: JobRecord) -> None:
        """One GET's worth of progress: PENDING -> RUNNING (running_gets GETs) -> the planned
        outcome; CANCELLING -> CANCELLED."""
        job = record.job
        if job.state in FINAL:
            return
        standin = self.standin
        moment = now()
        job.update_time = moment
        if job.state == State.PIPELINE_STATE_CANCELLING:
            states = task_states(record, "cancelled")
            self._finish(record, State.PIPELINE_STATE_CANCELLED, states, TaskState.CANCELLED)
            job.error = {"code": 1, "message": "The PipelineJob was cancelled."}
            return
        record.gets += 1
        if record.gets == 1:
            job.start_time = moment
            pipeline_context, run_context = standin.metadata.pipeline_contexts(record)
            job.job_detail.pipeline_context = pipeline_context
            job.job_detail.pipeline_run_context = run_context
        steps = max(int(standin.running_gets), 0)
        if record.gets <= steps:
            job.state = State.PIPELINE_STATE_RUNNING
            states = task_states(record, "running", record.gets, steps)
            job.job_detail.task_details = task_details(record, states, TaskState.RUNNING)
            return
        if record.outcome.state == "FAILED":
            states = task_states(record, "failed")
            self._finish(record, State.PIPELINE_STATE_FAILED, states, TaskState.FAILED)
            message = failure_message(record, job.name.split("/")[1], standin.project_number)
            job.error = {"code": 9, "message": message}
        else:
            states = task_states(record, "succeeded")
            self._finish(record, State.PIPELINE_STATE_SUCCEEDED, states, TaskState.SUCCEEDED)

    def _finish(
        self, record: JobRecord, state: State, states: dict[str, TaskState], root: TaskState
    ) -> None:
        job = record.job
        job.state = state
        job.end_time = now()
        if not job.start_time:
            job.start_time = job.end_time
        job.job_detail.task_details = task_details(record, states, root)
