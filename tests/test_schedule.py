"""`vtp schedule`: options checked locally, then create/list/pause/resume/delete through the real
SDK against the loopback Vertex AI stand-in."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from vtp.cloud import cron, schedules
from vtp.errors import SpecError

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def options(**overrides) -> schedules.ScheduleOptions:
    values = {"display_name": "nightly", "cron": cron.parse("0 3 * * *")}
    values.update(overrides)
    return schedules.ScheduleOptions(**values)


def test_times_without_offset_are_read_in_the_cron_zone():
    assert schedules.parse_time("start_time", "2026-04-01T08:00", PARIS) == datetime(
        2026, 4, 1, 6, 0, tzinfo=UTC
    )
    assert schedules.parse_time("end_time", "2026-04-01T08:00:00Z", PARIS) == datetime(
        2026, 4, 1, 8, 0, tzinfo=UTC
    )
    assert schedules.parse_time("start_time", "2026-04-01", PARIS).isoformat() == (
        "2026-04-01T00:00:00+02:00"
    )
    assert schedules.parse_time("start_time", None, PARIS) is None
    with pytest.raises(SpecError, match="start_time must be an ISO 8601 time.*got 'tomorrow'"):
        schedules.parse_time("start_time", "tomorrow", PARIS)


def test_end_before_start_names_both():
    start = datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(SpecError) as info:
        options(start_time=start, end_time=datetime(2026, 4, 1, tzinfo=UTC))
    assert info.value.field == "end_time"
    assert str(info.value) == (
        "end_time must be after start_time 2026-05-01T00:00:00+00:00, "
        "got '2026-04-01T00:00:00+00:00'"
    )
    with pytest.raises(SpecError, match="end_time must be after"):
        options(start_time=start, end_time=start)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrent_runs", 0),
        ("max_runs", 0),
        ("max_runs", -3),
        ("max_runs", 2**63),
        ("max_concurrent_runs", True),
    ],
)
def test_counts_must_be_positive(field, value):
    with pytest.raises(SpecError, match=f"{field} must be a whole number of at least 1"):
        options(**{field: value})


def test_display_name_length():
    with pytest.raises(SpecError, match="display_name must be 1 to 128 characters"):
        options(display_name="x" * 129)
    assert options(display_name=None).display_name is None


def test_fire_times_start_at_the_start_time_and_stop_at_end_and_max_runs():
    o = options(
        start_time=datetime(2026, 3, 10, 3, 0, tzinfo=UTC),
        end_time=datetime(2026, 3, 13, 0, 0, tzinfo=UTC),
    )
    assert [t.isoformat() for t in o.fire_times(NOW)] == [
        "2026-03-10T03:00:00+00:00",  # a fire time at the start time counts
        "2026-03-11T03:00:00+00:00",
        "2026-03-12T03:00:00+00:00",
    ]
    assert len(options(max_runs=2).fire_times(NOW)) == 2
    assert len(options().fire_times(NOW)) == schedules.SHOWN_FIRE_TIMES


def test_a_window_without_fire_times_is_refused():
    o = options(
        cron=cron.parse("0 0 1 1 *"),
        start_time=datetime(2026, 4, 1, tzinfo=UTC),
        end_time=datetime(2026, 5, 1, tzinfo=UTC),
    )
    with pytest.raises(SpecError, match="end_time leaves no fire time of cron '0 0 1 1 \\*'"):
        o.check_window(NOW)
    with pytest.raises(SpecError, match="end_time must be in the future"):
        options(end_time=datetime(2026, 3, 1, tzinfo=UTC)).check_window(NOW)
    options(end_time=datetime(2026, 3, 7, 4, tzinfo=UTC)).check_window(NOW)  # fires at 03:00


def test_schedule_references():
    from vtp.cloud.vertex_client import Target

    where = Target("p", "europe-west4")
    assert schedules.resource_name("123", where) == (
        "projects/p/locations/europe-west4/schedules/123"
    )
    full = "projects/q/locations/us-central1/schedules/9"
    assert schedules.resource_name(full, where) == full
    with pytest.raises(SpecError, match="schedule must be a schedule id or projects/P/"):
        schedules.resource_name("projects/q/schedules/9", where)


def test_fire_times_are_shown_in_the_zone_and_in_utc():
    moment = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert schedules.format_time(moment, PARIS) == "2026-03-09 09:00 Mon CET (2026-03-09 08:00 UTC)"
    assert schedules.format_time(moment, ZoneInfo("UTC")) == "2026-03-09 08:00 Mon UTC"


# Through the CLI and the real SDK. Stand-ins: `tests.standins.vertex_api.VertexStandIn` (the
# Vertex AI REST API, with schedules, recording every request; its cron code is written
# independently of vtp's). Schedule creation never touches Cloud Storage.

RUNNER = "runner@p.iam.gserviceaccount.com"
NETWORK = "projects/123456789012/global/networks/vpc"


def vtp(*args: str) -> int:
    from vtp.cli.main import main

    return main(["schedule", *args, "--project", "p"])


def create(*args: str, pipeline: str = "training") -> int:
    return vtp("create", pipeline, "--pipeline-root", "gs://vtp-runs/root", *args)


def test_create_sends_the_schedule_and_prints_the_next_fire_times(vertex_api, capsys):
    code = create(
        "--cron",
        "TZ=Europe/Paris 0 6 * * mon-fri",
        "--display-name",
        "weekday training",
        "--start",
        "2031-01-01",
        "--end",
        "2031-06-30T00:00:00Z",
        "--max-concurrent-runs",
        "2",
        "--max-runs",
        "40",
        "--allow-queueing",
        "--param",
        "split_seed=7",
        "--service-account",
        RUNNER,
        "--network",
        NETWORK,
        "--label",
        "team=ml",
        "--no-cache",
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    (call,) = vertex_api.calls("POST", "/schedules")
    sent = call.message
    assert sent.cron == "TZ=Europe/Paris 0 6 * * mon-fri"
    assert sent.display_name == "weekday training"
    assert sent.max_concurrent_run_count == 2
    assert sent.max_run_count == 40
    assert sent.allow_queueing is True
    assert sent.start_time.isoformat() == "2030-12-31T23:00:00+00:00"  # midnight in Paris
    assert sent.end_time.isoformat() == "2031-06-30T00:00:00+00:00"
    job = sent.create_pipeline_job_request.pipeline_job
    assert sent.create_pipeline_job_request.parent == "projects/p/locations/us-central1"
    assert dict(job.runtime_config.parameter_values)["split_seed"] == 7
    assert dict(job.runtime_config.parameter_values)["project"] == "p"
    assert job.runtime_config.gcs_output_directory == "gs://vtp-runs/root"
    assert job.service_account == RUNNER
    assert job.network == NETWORK
    assert job.labels["team"] == "ml"
    tasks = call.body["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"]["root"]["dag"]
    assert {t["cachingOptions"]["enableCache"] for t in tasks["tasks"].values()} == {False}

    stored = vertex_api.schedule(out[0].split()[-1])
    assert out[0] == f"schedule   {stored.name}"
    assert out[1] == "name       weekday training"
    assert out[2] == (
        "console    https://console.cloud.google.com/vertex-ai/locations/us-central1/"
        f"pipelines/schedules/{stored.name.rsplit('/', 1)[-1]}?project=p"
    )
    assert out[3] == "cron       TZ=Europe/Paris 0 6 * * mon-fri  (Europe/Paris)"
    assert out[4:] == [
        "next runs  2031-01-01 06:00 Wed CET (2031-01-01 05:00 UTC)",
        "           2031-01-02 06:00 Thu CET (2031-01-02 05:00 UTC)",
        "           2031-01-03 06:00 Fri CET (2031-01-03 05:00 UTC)",
        "           2031-01-06 06:00 Mon CET (2031-01-06 05:00 UTC)",
        "           2031-01-07 06:00 Tue CET (2031-01-07 05:00 UTC)",
    ]
    # the stand-in's own cron code agrees on the first fire time
    assert stored.next_run_time.isoformat() == "2031-01-01T05:00:00+00:00"


def test_fire_times_follow_the_stand_in_across_daylight_saving(vertex_api, capsys):
    assert create("--cron", "CRON_TZ=America/New_York 30 2 * * *", "--start", "2031-03-08") == 0
    out = capsys.readouterr().out.splitlines()
    stored = vertex_api.schedule(out[0].split()[-1])
    printed = [line.split("(")[-1].rstrip(")") for line in out[4:]]
    assert printed[:2] == ["2031-03-08 07:30 UTC", "2031-03-10 06:30 UTC"]  # 03-09 02:30: none
    assert stored.next_run_time.strftime("%Y-%m-%d %H:%M UTC") == printed[0]
    for expected in printed[1:3]:
        vertex_api.fire_schedule(stored.name)
        after = vertex_api.schedule(stored.name).next_run_time
        assert after.strftime("%Y-%m-%d %H:%M UTC") == expected


def test_list_pause_resume_delete(vertex_api, capsys):
    assert create("--cron", "0 3 * * *", "--display-name", "nightly", "--max-runs", "5") == 0
    nightly = capsys.readouterr().out.splitlines()[0].split()[-1]
    assert create("--cron", "*/30 * * * *", "--display-name", "half-hourly") == 0
    half = capsys.readouterr().out.splitlines()[0].split()[-1]
    vertex_api.fire_schedule(nightly)

    assert vtp("list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "NAME", "STATE", "CRON", "NEXT", "RUN", "(UTC)", "RUNS"]
    rows = {line.split()[0]: line for line in table[1:]}
    nightly_id, half_id = nightly.rsplit("/", 1)[-1], half.rsplit("/", 1)[-1]
    assert list(rows) == [half_id, nightly_id]  # newest first
    assert rows[nightly_id].split()[1:4] == ["nightly", "ACTIVE", "0"]
    assert rows[nightly_id].split()[-1] == "1/5"  # runs started / max runs
    next_run = vertex_api.schedule(nightly).next_run_time.strftime("%Y-%m-%d %H:%M")
    assert next_run in rows[nightly_id]

    assert vtp("pause", nightly_id) == 0
    assert capsys.readouterr().out == f"paused   {nightly}  (nightly)\n"
    assert vertex_api.schedule(nightly).state.name == "PAUSED"
    assert vtp("list") == 0
    paused_row = capsys.readouterr().out.splitlines()[2]
    assert paused_row.split()[2] == "PAUSED" and " - " in paused_row

    assert vtp("resume", nightly, "--catch-up") == 0
    assert capsys.readouterr().out == f"active   {nightly}  (nightly)\n"
    (resume,) = vertex_api.calls("POST", ":resume")
    assert resume.body == {"catchUp": True}
    assert vertex_api.schedule(nightly).state.name == "ACTIVE"

    assert vtp("delete", half_id) == 0
    assert capsys.readouterr().out == f"deleted  {half}\n"
    assert vtp("list") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [nightly_id]


def test_a_resource_name_carries_its_project_and_location(vertex_api, capsys):
    from vtp.cli.main import main

    assert create("--cron", "0 3 * * *") == 0
    name = capsys.readouterr().out.splitlines()[0].split()[-1]
    assert main(["schedule", "pause", name]) == 0  # no --project: the name has it
    assert capsys.readouterr().out.startswith(f"paused   {name}")
    assert vertex_api.schedule(name).state.name == "PAUSED"
    before = len(vertex_api.calls())
    assert main(["schedule", "resume", name, "--project", "q"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"vtp: error: --project must be left out or match the schedule's resource name {name}, "
        "got 'q'\n"
    )
    assert main(["schedule", "delete", name, "--location", "europe-west4"]) == 2
    assert "--location must be left out or match" in capsys.readouterr().err
    assert len(vertex_api.calls()) == before  # refused before any request
    assert main(["schedule", "pause", "123"]) == 2  # an id needs a project
    assert "no project: pass --project PROJECT" in capsys.readouterr().err


def test_empty_list(vertex_api, capsys):
    assert vtp("list") == 0
    assert capsys.readouterr().out == "no schedules\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "61 * * * *"], "cron minute values must be in 0-59, got '61'"),
        (["--cron", "0 0 * * 8"], "cron day-of-week values must be in 0-7 or sun-sat, got '8'"),
        (["--cron", "0 0 30 feb *"], "cron never fires"),
        (["--cron", "TZ=Moon/Base 0 0 * * *"], "cron time zone must be an IANA time zone"),
        (["--cron", "0 0 * *"], "cron must be 5 fields"),
        (
            ["--cron", "0 0 * * *", "--start", "2031-05-01", "--end", "2031-04-01"],
            "end_time must be after start_time 2031-05-01T00:00:00+00:00",
        ),
        (["--cron", "0 0 * * *", "--end", "2020-01-01"], "end_time must be in the future"),
        (["--cron", "0 0 * * *", "--start", "soon"], "start_time must be an ISO 8601 time"),
        (["--cron", "0 0 * * *", "--max-runs", "0"], "max_runs must be a whole number"),
        (["--cron", "0 0 * * *", "--param", "nope=1"], "unknown parameter 'nope'"),
        (["--cron", "0 0 * * *", "--param", "split_seed=x"], "'split_seed' must be an integer"),
        (["--cron", "0 0 * * *", "--label", "A=b"], "labels key must start with a lowercase"),
    ],
)
def test_bad_schedules_send_no_request(vertex_api, capsys, args, message):
    assert create(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("vtp: error: ") and message in err, err
    assert vertex_api.calls() == []


def test_vertex_refusals_are_one_line_and_exit_1(vertex_api, capsys):
    assert create("--cron", "0 3 * * *") == 0
    name = capsys.readouterr().out.splitlines()[0].split()[-1]
    assert vtp("resume", name) == 1  # it is not paused
    err = capsys.readouterr().err
    assert err.startswith(f"vtp: error: Vertex AI refused to resume schedule {name}: 400 ")
    assert "only a PAUSED schedule can be resumed" in err and len(err.splitlines()) == 1
    assert vtp("delete", "42") == 1
    assert "404 NOT_FOUND" in capsys.readouterr().err
    assert vtp("pause", "projects/p/schedules/1") == 2
    assert "schedule must be a schedule id or projects/P/locations/L/schedules/ID" in (
        capsys.readouterr().err
    )


def test_unreachable_endpoint_is_one_line_and_exit_1(monkeypatch, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("VTP_VERTEX_ENDPOINT", f"http://127.0.0.1:{port}")
    assert vtp("list") == 1
    err = capsys.readouterr().err
    assert err.startswith("vtp: error: cannot reach Vertex AI to list schedules: ")
    assert len(err.splitlines()) == 1


def test_schedule_of_a_registry_template_version(vertex_api, capsys, shippable):
    """Adds `tests.standins.artifact_registry.ArtifactRegistryStandIn` (the template registry)."""

    from standins.artifact_registry import ArtifactRegistryStandIn

    from vtp.cloud import templates

    compiled = shippable / "pipelines/training.yaml"
    with ArtifactRegistryStandIn() as registry:
        host = registry.host_for("p", "pipelines")
        package, version = templates.registry_client(host).upload_pipeline(str(compiled))
        url = templates.template_url(host, package, version)
        assert create("--cron", "0 3 * * *", pipeline=url) == 0, capsys.readouterr().err
    (call,) = vertex_api.calls("POST", "/schedules")
    job = call.message.create_pipeline_job_request.pipeline_job
    assert job.template_uri == url
    assert job.template_metadata.version == version
    assert call.message.display_name == "training"
