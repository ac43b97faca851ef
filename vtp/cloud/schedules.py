"""`vtp schedule`: Vertex AI's native pipeline schedules (`PipelineJobSchedule`).

Everything a schedule is made of (cron, time zone, window, counts, parameters) is checked
here before the CreateSchedule request; the next fire times are computed locally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vtp.cli.text_table import table
from vtp.cloud import cron as cronlib
from vtp.cloud import pipeline_job
from vtp.cloud.templates import ResolvedTemplate
from vtp.cloud.vertex_client import Target, init, requests_to, target
from vtp.errors import SpecError

#: Fire times shown when a schedule is created.
SHOWN_FIRE_TIMES = 5
_MAX_INT64 = 2**63 - 1
_SCHEDULE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/schedules/[^/]+")
_SCHEDULE_ID = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_]*")


@dataclass(frozen=True)
class ScheduleOptions:
    """When and how often a schedule starts runs; checked when built.

    Attributes:
        display_name: the schedule's name, 1 to 128 characters (default: the pipeline's).
        cron: the parsed cron expression (with its time zone).
        start_time: no run before this time (default: when it is created).
        end_time: no run after this time (default: never ends).
        max_concurrent_runs: runs started at once, at least 1.
        max_runs: the schedule completes after starting this many runs.
        allow_queueing: queue a run that the concurrency limit holds back, instead of
            skipping it.
    """

    display_name: str | None
    cron: cronlib.Cron
    start_time: datetime | None = None
    end_time: datetime | None = None
    max_concurrent_runs: int = 1
    max_runs: int | None = None
    allow_queueing: bool = False

    def __post_init__(self):
        pipeline_job.check_display_name(self.display_name)
        _count("max_concurrent_runs", self.max_concurrent_runs)
        if self.max_runs is not None:
            _count("max_runs", self.max_runs)
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise SpecError(name, value, "must be an aware datetime (with a UTC offset)")
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise SpecError(
                "end_time",
                self.end_time.isoformat(),
                f"must be after start_time {self.start_time.isoformat()}",
            )

    def fire_times(self, now: datetime, count: int = SHOWN_FIRE_TIMES) -> list[datetime]:
        """The first `count` runs the schedule would start, from `now` (or its start time)."""
        after = now
        if self.start_time and self.start_time > now:
            after = self.start_time - timedelta(microseconds=1)  # a fire at the start counts
        if self.max_runs is not None:
            count = min(count, self.max_runs)
        return self.cron.next_times(after, count, until=self.end_time)

    def check_window(self, now: datetime) -> None:
        """The schedule can start at least one run: the end is in the future and a fire time
        falls before it."""
        if self.end_time is None:
            return
        if self.end_time <= now:
            raise SpecError("end_time", self.end_time.isoformat(), "must be in the future")
        if not self.fire_times(now, 1):
            raise SpecError(
                "end_time",
                self.end_time.isoformat(),
                f"leaves no fire time of cron {self.cron.text!r} before it",
            )


def _count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_INT64:
        raise SpecError(name, value, "must be a whole number of at least 1")


def parse_time(name: str, text: str | None, zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 time (`2026-01-31`, `2026-01-31T08:00`, `...Z`, `...+02:00`); without an
    offset it is read in `zone` (the cron's time zone). None stays None."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SpecError(
            name, text, "must be an ISO 8601 time such as 2026-01-31T08:00:00Z or 2026-01-31"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def create(
    template: ResolvedTemplate,
    values: dict[str, Any],
    run: pipeline_job.RunOptions,
    options: ScheduleOptions,
    where: Target,
):
    """Creates the schedule (one CreateSchedule request); returns the SDK object.

    Raises:
        RequestFailed: Vertex AI refused the request or could not be reached.
    """
    init(where)
    with requests_to("create the schedule"):
        from google.cloud import aiplatform

        job = pipeline_job.build_job(template, values, run, where)
        schedule = aiplatform.PipelineJobSchedule(
            pipeline_job=job,
            display_name=options.display_name or template.pipeline_name,
            project=where.project,
            location=where.location,
        )
        request = schedule._gca_resource.create_pipeline_job_request.pipeline_job  # not sent yet
        if template.version_name:
            request.template_metadata.version = template.version_name
        schedule.create(
            cron=options.cron.text,
            start_time=options.start_time,
            end_time=options.end_time,
            allow_queueing=options.allow_queueing,
            max_run_count=options.max_runs,
            max_concurrent_run_count=options.max_concurrent_runs,
            service_account=run.service_account,
            network=run.network,
        )
    return schedule


def resource_name(ref: str, where: Target) -> str:
    """A schedule id or resource name as a full resource name."""
    if _SCHEDULE_NAME.fullmatch(ref):
        return ref
    if _SCHEDULE_ID.fullmatch(ref):
        return f"{where.parent}/schedules/{ref}"
    raise SpecError("schedule", ref, "must be a schedule id or projects/P/locations/L/schedules/ID")


def is_schedule_name(ref: str) -> bool:
    """Whether `ref` is a resource name `projects/P/locations/L/schedules/ID` (not an id)."""
    return bool(_SCHEDULE_NAME.fullmatch(ref))


def schedule_target(ref: str, project: str | None, location: str | None) -> Target:
    """Where a request about schedule `ref` goes. A resource name carries its project and
    location (a `--project` or `--location` that differs is refused); an id takes them from
    the options or the environment, as `vertex_client.target` does.

    Raises:
        SpecError: `--project` or `--location` contradicts the resource name.
        VtpError: an id and no project anywhere.
    """
    if not _SCHEDULE_NAME.fullmatch(ref):
        return target(project, location)
    parts = ref.split("/")
    for option, given, named in (
        ("--project", project, parts[1]),
        ("--location", location, parts[3]),
    ):
        if given and given != named:
            raise SpecError(
                option, given, f"must be left out or match the schedule's resource name {ref}"
            )
    return target(parts[1], parts[3])


def _get(ref: str, where: Target):
    from google.cloud import aiplatform

    return aiplatform.PipelineJobSchedule.get(resource_name(ref, where))


def pause(ref: str, where: Target):
    """Pauses a schedule; returns it as it is afterwards."""
    name = resource_name(ref, where)
    init(where)
    with requests_to(f"pause schedule {name}"):
        schedule = _get(name, where)
        schedule.pause()
        return _get(name, where)


def resume(ref: str, where: Target, *, catch_up: bool = False):
    """Resumes a paused schedule, starting the missed runs first with `catch_up`."""
    from google.cloud import aiplatform_v1

    name = resource_name(ref, where)
    init(where)
    with requests_to(f"resume schedule {name}"):
        schedule = _get(name, where)
        # The SDK's resume() drops catch_up: send the typed request ourselves.
        schedule.api_client.resume_schedule(
            request=aiplatform_v1.ResumeScheduleRequest(name=name, catch_up=catch_up)
        )
        return _get(name, where)


def delete(ref: str, where: Target) -> str:
    """Deletes a schedule (runs it started are kept); returns its resource name."""
    name = resource_name(ref, where)
    init(where)
    with requests_to(f"delete schedule {name}"):
        _get(name, where).delete()
    return name


def list_schedules(where: Target) -> list:
    """Every pipeline schedule of the project and location, newest first."""
    init(where)
    with requests_to("list schedules"):
        from google.cloud import aiplatform

        found = aiplatform.PipelineJobSchedule.list(project=where.project, location=where.location)
    schedules = [s for s in found if "create_pipeline_job_request" in s._gca_resource]
    return sorted(schedules, key=lambda s: s._gca_resource.create_time, reverse=True)


def next_run(resource, now: datetime) -> datetime | None:
    """When an active schedule starts its next run: Vertex's `next_run_time`, else the cron's
    next fire time. None for a paused or completed schedule."""
    if resource.state.name != "ACTIVE":
        return None
    if resource.next_run_time:
        return resource.next_run_time
    try:
        times = cronlib.parse(resource.cron).next_times(now, 1)
    except SpecError:
        return None
    return times[0] if times else None


def format_table(schedules: list, now: datetime | None = None) -> str:
    """ID, name, state, cron, next run and runs started, one schedule a line."""
    if not schedules:
        return "no schedules"
    now = now or datetime.now(UTC)
    header = ("ID", "NAME", "STATE", "CRON", "NEXT RUN (UTC)", "RUNS")
    rows = []
    for schedule in schedules:
        r = schedule._gca_resource
        upcoming = next_run(r, now)
        runs = str(r.started_run_count)
        if r.max_run_count:
            runs += f"/{r.max_run_count}"
        rows.append(
            (
                r.name.rsplit("/", 1)[-1],
                r.display_name,
                r.state.name,
                r.cron,
                upcoming.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if upcoming else "-",
                runs,
            )
        )
    return table(header, rows)


def format_time(moment: datetime, zone: ZoneInfo) -> str:
    """`2026-01-05 09:00 Mon EST (2026-01-05 14:00 UTC)`; a UTC time once
    (`2026-01-05 14:00 Mon UTC`)."""
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M %a")
    if zone.key == "UTC":
        return f"{text} UTC"
    return f"{text} {local.tzname()} ({moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC)"


def console_url(name: str) -> str:
    """The Cloud console page of a schedule."""
    parts = name.split("/")
    return (
        f"https://console.cloud.google.com/vertex-ai/locations/{parts[3]}/pipelines/schedules/"
        f"{parts[5]}?project={parts[1]}"
    )
