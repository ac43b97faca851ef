"""Schedules in the Vertex AI stand-in: create (checked), get, list, pause, resume (with
`catch_up`), update (PATCH with `updateMask`), delete (a long-running operation), and
`fire`, which starts one scheduled run as Vertex would at `next_run_time`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.cloud import aiplatform_v1

from standins.vertex_common import (
    ID,
    LOCATION,
    Call,
    decode,
    list_page,
    now,
    numeric_id,
    rfc3339,
    route,
    snake,
    to_json,
)
from standins.vertex_cron import Cron, CronError, parse_cron
from standins.vertex_errors import invalid, not_found, precondition

Schedule = aiplatform_v1.Schedule
ScheduleState = Schedule.State

FILTER_FIELDS = {
    "display_name": "string",
    "state": "enum:" + ",".join(s.name for s in ScheduleState),
    "create_pipeline_job_request": "presence",
    "create_time": "time",
    "start_time": "time",
    "end_time": "time",
    "next_run_time": "time",
}
ORDER_FIELDS = ("create_time", "start_time", "end_time", "next_run_time")
UPDATABLE = (
    "display_name",
    "cron",
    "start_time",
    "end_time",
    "max_run_count",
    "max_concurrent_run_count",
    "max_concurrent_active_run_count",
    "allow_queueing",
    "create_pipeline_job_request",
)
OUTPUT_ONLY = (
    "name",
    "started_run_count",
    "state",
    "create_time",
    "update_time",
    "next_run_time",
    "last_pause_time",
    "last_resume_time",
    "catch_up",
    "last_scheduled_run_response",
)


def _has(schedule: Schedule, field_name: str) -> bool:
    return Schedule.pb(schedule).HasField(field_name)


def check_schedule(schedule: Schedule, parent: str, standin, where: str = "schedule") -> Cron:
    """Checks a schedule to create (or as updated) and returns its parsed cron.

    Raises:
        ApiError: 400 naming the field, the value and what is allowed.
    """
    if not schedule.display_name:
        raise invalid(f"{where}.display_name", "", "is required")
    if len(schedule.display_name) > 128:
        raise invalid(
            f"{where}.display_name",
            schedule.display_name[:40] + "...",
            f"must be at most 128 characters (it has {len(schedule.display_name)})",
        )
    if not schedule.cron:
        raise invalid(f"{where}.cron", "", "is required (the time specification)")
    try:
        cron = parse_cron(schedule.cron)
    except CronError as err:
        raise invalid(
            f"{where}.cron", schedule.cron, f"must be a valid cron expression: {err}"
        ) from None
    if _has(schedule, "create_notebook_execution_job_request"):
        raise invalid(
            f"{where}.create_notebook_execution_job_request",
            "set",
            "is not served by the stand-in: use create_pipeline_job_request",
        )
    if not _has(schedule, "create_pipeline_job_request"):
        raise invalid(f"{where}.create_pipeline_job_request", None, "is required")
    request = schedule.create_pipeline_job_request
    if request.parent != parent:
        raise invalid(
            f"{where}.create_pipeline_job_request.parent",
            request.parent,
            f"must be the schedule's parent {parent}",
        )
    if request.pipeline_job_id:
        raise invalid(
            f"{where}.create_pipeline_job_request.pipeline_job_id",
            request.pipeline_job_id,
            "must be empty: every scheduled run gets its own id",
        )
    standin.pipelines.check_job(
        parent, request.pipeline_job, f"{where}.create_pipeline_job_request.pipeline_job"
    )
    if schedule.max_concurrent_run_count < 1:
        raise invalid(
            f"{where}.max_concurrent_run_count", schedule.max_concurrent_run_count, "must be >= 1"
        )
    if schedule.max_run_count < 0:
        raise invalid(f"{where}.max_run_count", schedule.max_run_count, "must be >= 0")
    if schedule.max_concurrent_active_run_count < 0:
        raise invalid(
            f"{where}.max_concurrent_active_run_count",
            schedule.max_concurrent_active_run_count,
            "must be >= 0",
        )
    start = schedule.start_time if _has(schedule, "start_time") else None
    end = schedule.end_time if _has(schedule, "end_time") else None
    if end is not None:
        if start is not None and end <= start:
            raise invalid(
                f"{where}.end_time", rfc3339(end), f"must be after start_time {rfc3339(start)}"
            )
        if start is None and end <= now():
            raise invalid(f"{where}.end_time", rfc3339(end), "must be in the future")
    return cron


class ScheduleService:
    """`schedules` of a location."""

    def __init__(self, standin):
        self.standin = standin
        self.schedules: dict[str, Schedule] = {}
        self.crons: dict[str, Cron] = {}

    def routes(self):
        schedules = f"{LOCATION}/schedules"
        one = f"{schedules}/(?P<id>{ID})"
        return [
            route("POST", schedules, self.create),
            route("GET", schedules, self.list, "filter", "pageSize", "pageToken", "orderBy"),
            route("GET", one, self.get),
            route("DELETE", one, self.delete),
            route("PATCH", one, self.update, "updateMask"),
            route("POST", f"{one}:pause", self.pause),
            route("POST", f"{one}:resume", self.resume),
        ]

    # timing

    def _next(self, name: str, after: datetime) -> datetime | None:
        schedule, cron = self.schedules[name], self.crons[name]
        start = schedule.start_time if _has(schedule, "start_time") else None
        if start is not None and start > after:
            after = start - timedelta(microseconds=1)
        moment = cron.next_after(after)
        if moment is None:
            return None
        if _has(schedule, "end_time") and moment > schedule.end_time:
            return None
        return moment

    def _plan(self, name: str, after: datetime) -> None:
        """Sets `next_run_time` from `after`, or completes the schedule."""
        schedule = self.schedules[name]
        moment = self._next(name, after)
        done = schedule.max_run_count and schedule.started_run_count >= schedule.max_run_count
        pb = Schedule.pb(schedule)
        if moment is None or done:
            pb.ClearField("next_run_time")
            schedule.state = ScheduleState.COMPLETED
        else:
            schedule.next_run_time = moment

    # calls

    def record(self, call: Call) -> Schedule:
        name = self.standin.name_of(call, "schedules")
        if name not in self.schedules:
            raise not_found(f"Schedule {name}")
        return self.schedules[name]

    def create(self, call: Call):
        schedule = decode(call, Schedule, "schedule")
        parent = self.standin.parent_of(call)
        cron = check_schedule(schedule, parent, self.standin)
        seq = self.standin.next_seq()
        name = f"{parent}/schedules/{numeric_id(f'schedule-{seq}')}"
        stored = Schedule(schedule)
        pb = Schedule.pb(stored)
        for output_only in OUTPUT_ONLY:
            pb.ClearField(output_only)
        moment = now()
        stored.name = name
        stored.state = ScheduleState.ACTIVE
        stored.create_time = moment
        stored.update_time = moment
        self.schedules[name] = stored
        self.crons[name] = cron
        self._plan(name, moment)
        return stored

    def get(self, call: Call):
        return self.record(call)

    def list(self, call: Call):
        parent = self.standin.parent_of(call)
        items = [s for s in self.schedules.values() if s.name.startswith(parent + "/")]

        def values(schedule: Schedule) -> dict[str, Any]:
            return {
                "display_name": schedule.display_name,
                "state": ScheduleState(schedule.state).name,
                "create_pipeline_job_request": _has(schedule, "create_pipeline_job_request"),
                "create_time": schedule.create_time,
                "start_time": schedule.start_time if _has(schedule, "start_time") else None,
                "end_time": schedule.end_time if _has(schedule, "end_time") else None,
                "next_run_time": (
                    schedule.next_run_time if _has(schedule, "next_run_time") else None
                ),
            }

        page, token = list_page(
            call,
            items,
            fields=values,
            filter_fields=FILTER_FIELDS,
            order_fields=ORDER_FIELDS,
            default_order="create_time desc",
            page_size=self.standin.default_page_size,
        )
        answer: dict[str, Any] = {"schedules": [to_json(s, call.int_enums) for s in page]}
        if token:
            answer["nextPageToken"] = token
        return answer

    def pause(self, call: Call):
        schedule = self.record(call)
        call.json()
        if schedule.state != ScheduleState.ACTIVE:
            raise precondition(
                f"Schedule {schedule.name} is {ScheduleState(schedule.state).name}: "
                "only an ACTIVE schedule can be paused"
            )
        moment = now()
        schedule.state = ScheduleState.PAUSED
        schedule.last_pause_time = moment
        schedule.update_time = moment
        return {}

    def resume(self, call: Call):
        schedule = self.record(call)
        request = decode(call, aiplatform_v1.ResumeScheduleRequest, "request")
        if schedule.state != ScheduleState.PAUSED:
            raise precondition(
                f"Schedule {schedule.name} is {ScheduleState(schedule.state).name}: "
                "only a PAUSED schedule can be resumed"
            )
        moment = now()
        schedule.state = ScheduleState.ACTIVE
        schedule.last_resume_time = moment
        schedule.update_time = moment
        schedule.catch_up = request.catch_up
        paused = schedule.last_pause_time
        missed = self.crons[schedule.name].between(paused, moment) if request.catch_up else []
        self._plan(schedule.name, missed[0] - timedelta(microseconds=1) if missed else moment)
        return {}

    def update(self, call: Call):
        current = self.record(call)
        body = decode(call, Schedule, "schedule")
        mask = [snake(p.strip()) for p in call.arg("updateMask").split(",") if p.strip()]
        if not mask:
            raise invalid(
                "update_mask", "", f"is required: the fields to change ({', '.join(UPDATABLE)})"
            )
        if current.state not in (ScheduleState.ACTIVE, ScheduleState.PAUSED):
            raise precondition(
                f"Schedule {current.name} is {ScheduleState(current.state).name}: "
                "only an ACTIVE or PAUSED schedule can be updated"
            )
        updated = Schedule(current)
        for path in mask:
            top = path.split(".")[0]
            if top in OUTPUT_ONLY:
                raise invalid("update_mask", path, "names an output-only field")
            if top not in UPDATABLE:
                raise invalid("update_mask", path, f"must name fields among {', '.join(UPDATABLE)}")
            if top in ("start_time", "end_time", "create_pipeline_job_request") and not _has(
                body, top
            ):
                if _has(current, top):
                    raise invalid(f"schedule.{top}", None, "cannot be unset once set")
                continue
            setattr(updated, top, getattr(body, top))
        parent = self.standin.parent_of(call)
        cron = check_schedule(updated, parent, self.standin)
        moment = now()
        updated.update_time = moment
        self.schedules[current.name] = updated
        self.crons[current.name] = cron
        if updated.state == ScheduleState.ACTIVE:
            self._plan(current.name, moment)
        return updated

    def delete(self, call: Call):
        schedule = self.record(call)
        del self.schedules[schedule.name]
        return self.standin.operations.start(
            schedule.name, "DeleteOperationMetadata", None, call.version
        )

    # scheduled runs

    def fire(self, name: str) -> str:
        """Starts the run due at `next_run_time` and plans the next; returns the job's name."""
        schedule = self.schedules.get(name)
        if schedule is None:
            raise KeyError(f"no schedule {name}; schedules: {', '.join(self.schedules) or 'none'}")
        if schedule.state != ScheduleState.ACTIVE:
            raise ValueError(
                f"schedule {name} is {ScheduleState(schedule.state).name}: only an ACTIVE "
                "schedule starts runs"
            )
        due = schedule.next_run_time
        request = schedule.create_pipeline_job_request
        job = self.standin.pipelines.create_job(
            request.parent,
            request.pipeline_job,
            "",
            where="schedule.create_pipeline_job_request.pipeline_job",
            schedule_name=name,
        )
        schedule.started_run_count += 1
        schedule.last_scheduled_run_response = {
            "scheduled_run_time": due,
            "run_response": job.name,
        }
        schedule.update_time = now()
        self._plan(name, due)
        return job.name
