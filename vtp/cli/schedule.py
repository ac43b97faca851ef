"""`vtp schedule create|list|pause|resume|delete`: Vertex AI pipeline schedules."""

from __future__ import annotations

import argparse
import sys

from vtp.cli.submit import add_run_options, add_target_options, parameters, run_options

EPILOG = """examples:
  vtp schedule create training --cron "TZ=Europe/Paris 0 6 * * mon-fri" \\
      --project my-proj --pipeline-root gs://my-bucket/runs --param metric_threshold=0.95
  vtp schedule create https://us-central1-kfp.pkg.dev/my-proj/pipelines/training/sha256:4f... \\
      --cron "0 */6 * * *" --start 2026-01-01 --end 2026-06-30T23:59:00Z \\
      --max-concurrent-runs 2 --allow-queueing --max-runs 100
  vtp schedule list
  vtp schedule pause 1234567890
  vtp schedule resume projects/my-proj/locations/us-central1/schedules/1234567890 --catch-up
  vtp schedule delete 1234567890

The cron expression is checked here (5 fields: minute hour day-of-month month day-of-week;
lists, ranges, steps, month and day names; an optional TZ= or CRON_TZ= IANA time zone,
else UTC) and `create` prints the next fire times. --start/--end are ISO 8601; without a UTC
offset they are read in the cron's time zone. Nothing is sent when a check fails.
"""


def register(sub, home) -> None:
    """Adds `vtp schedule` and its actions."""
    s = sub.add_parser(
        "schedule",
        help="create and manage Vertex AI pipeline schedules",
        description="Vertex AI's native pipeline schedules: runs started on a cron.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = s.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")

    c = actions.add_parser(
        "create",
        help="schedule a compiled pipeline",
        description="Create a schedule that starts runs of PIPELINE on a cron.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("pipeline", help="catalog name, compiled YAML path or registry template URL")
    c.add_argument(
        "--cron",
        required=True,
        metavar="EXPR",
        help='cron, e.g. "TZ=America/New_York 0 9 * * 1-5" (UTC without TZ=)',
    )
    c.add_argument("--display-name", metavar="NAME", help="schedule name (default: pipeline's)")
    c.add_argument("--start", metavar="TIME", help="no run before this ISO 8601 time")
    c.add_argument("--end", metavar="TIME", help="no run after this ISO 8601 time")
    c.add_argument(
        "--max-concurrent-runs", type=int, default=1, metavar="N", help="runs at once (1)"
    )
    c.add_argument("--max-runs", type=int, metavar="N", help="complete after N runs")
    c.add_argument(
        "--allow-queueing",
        action="store_true",
        help="queue a run held back by --max-concurrent-runs instead of skipping it",
    )
    add_run_options(c)
    c.set_defaults(handler=_create)

    ls = actions.add_parser("list", help="schedules of a project and location, newest first")
    add_target_options(ls)
    ls.set_defaults(handler=_list)

    for action, text in (
        ("pause", "stop starting runs (runs already started go on)"),
        ("resume", "start runs again"),
        ("delete", "delete a schedule (its runs are kept)"),
    ):
        a = actions.add_parser(action, help=text)
        a.add_argument(
            "schedule",
            help="schedule id, or projects/P/locations/L/schedules/ID (then no --project needed)",
        )
        add_target_options(a)
        if action == "resume":
            a.add_argument(
                "--catch-up", action="store_true", help="first start the runs missed while paused"
            )
        a.set_defaults(handler=_change)


def _create(args) -> int:
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from vtp.cloud import cron, schedules, submit
    from vtp.cloud.vertex_client import target

    where = target(args.config.value("project"), args.config.value("location"))
    expression = cron.parse(args.cron)
    zone = expression.zone
    options = schedules.ScheduleOptions(
        display_name=args.display_name,
        cron=expression,
        start_time=schedules.parse_time("start_time", args.start, zone),
        end_time=schedules.parse_time("end_time", args.end, zone),
        max_concurrent_runs=args.max_concurrent_runs,
        max_runs=args.max_runs,
        allow_queueing=args.allow_queueing,
    )
    now = datetime.now(UTC)
    options.check_window(now)
    upcoming = options.fire_times(now)
    run = run_options(args)
    with tempfile.TemporaryDirectory(prefix="vtp-template-") as work:
        template, values = submit.prepare(
            args.pipeline,
            where,
            work_dir=Path(work),
            images=args.config.images(),
            compiled=args.config.value("compiled"),
            **parameters(args),
        )
        schedule = schedules.create(template, values, run, options, where)
    name = schedule.resource_name
    print(f"schedule   {name}")
    print(f"name       {schedule.display_name}")
    print(f"console    {schedules.console_url(name)}")
    print(f"cron       {expression.text}  ({expression.timezone})")
    for i, moment in enumerate(upcoming):
        label = "next runs" if i == 0 else ""
        print(f"{label:<10} {schedules.format_time(moment, zone)}")
    return 0


def _list(args) -> int:
    from vtp.cloud import schedules
    from vtp.cloud.vertex_client import target

    where = target(args.config.value("project"), args.config.value("location"))
    print(schedules.format_table(schedules.list_schedules(where)))
    return 0


def _change(args) -> int:
    from vtp.cloud import schedules

    # A resource name carries its project and location: only flags may contradict it.
    named = schedules.is_schedule_name(args.schedule)
    config = args.config
    where = schedules.schedule_target(
        args.schedule,
        args.project if named else config.value("project"),
        args.location if named else config.value("location"),
    )
    action = args.schedule_command
    if action == "delete":
        print(f"deleted  {schedules.delete(args.schedule, where)}")
        return 0
    if action == "pause":
        schedule = schedules.pause(args.schedule, where)
    else:
        schedule = schedules.resume(args.schedule, where, catch_up=args.catch_up)
    r = schedule._gca_resource
    print(f"{r.state.name.lower():<8} {r.name}  ({r.display_name})", file=sys.stdout)
    return 0
