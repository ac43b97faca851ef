"""`vtp submit`: run a compiled pipeline on Vertex AI (options shared with `vtp schedule`)."""

from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  vtp submit training --project my-proj --pipeline-root gs://my-bucket/runs
  vtp submit training --param metric_threshold=0.95 --params prod.yaml --wait
  vtp submit compiled/pipelines/tuning.yaml --label team=ml --no-cache \\
      --service-account trainer@my-proj.iam.gserviceaccount.com \\
      --network projects/123456789/global/networks/vpc
  vtp submit https://us-central1-kfp.pkg.dev/my-proj/pipelines/training/v3 --experiment churn

PIPELINE is a catalog name (`vtp list`: compiled/pipelines/NAME.yaml), a compiled YAML path or
an Artifact Registry template URL ending in a tag or a sha256: version.
Project and location: --project / --location, else $GOOGLE_CLOUD_PROJECT / $VTP_LOCATION
(location default us-central1). Parameters are checked against the pipeline's declared inputs
before any request. Caching: each task keeps its compiled setting unless --cache/--no-cache.
--wait prints progress and exits with the run's final state: 0 SUCCEEDED, 1 FAILED or
CANCELLED; Ctrl-C while waiting asks Vertex AI to cancel the run and exits 130.
"""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--project / --location."""
    parser.add_argument("--project", help="Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)")
    parser.add_argument(
        "--location", help="Vertex AI region (default: $VTP_LOCATION, else us-central1)"
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """What a pipeline run takes, for `submit` and `schedule create`."""
    add_target_options(parser)
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="set a parameter"
    )
    parser.add_argument("--params", metavar="FILE", help="YAML/JSON file of parameters")
    parser.add_argument(
        "--pipeline-root",
        metavar="GS_URI",
        help="gs:// root of the run's artifacts (default: the SDK's per-project bucket)",
    )
    parser.add_argument("--service-account", metavar="EMAIL", help="run-as service account")
    parser.add_argument(
        "--network",
        metavar="NETWORK",
        help="VPC to peer with: projects/<project number>/global/networks/<name>",
    )
    parser.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="run label"
    )
    parser.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reuse (or, with --no-cache, never reuse) cached task results; "
        "default: each task's compiled setting",
    )
    parser.add_argument(
        "--failure-policy",
        choices=("fast", "slow"),
        help="fast: schedule no new task after one fails; slow (Vertex's default): run all "
        "that can",
    )


def run_options(args, **extra):
    """`RunOptions` from parsed arguments (checked: labels, network, service account...)."""
    from vtp.cloud.pipeline_job import RunOptions, parse_labels

    return RunOptions(
        pipeline_root=args.config.value("pipeline_root"),
        labels=parse_labels(args.label),
        enable_caching=args.cache,
        failure_policy=args.failure_policy,
        service_account=args.config.value("service_account"),
        network=args.network,
        **extra,
    )


def parameters(args) -> dict:
    """`--param` and `--params` as `check_parameters` keyword arguments."""
    from vtp import params

    return {
        "assignments": params.parse_assignments(args.param),
        "file_values": params.load_params_file(args.params) if args.params else None,
    }


def register(sub, home) -> None:
    """Adds `vtp submit`."""
    p = sub.add_parser(
        "submit",
        help="run a compiled pipeline on Vertex AI",
        description="Create a pipeline run on Vertex AI from a compiled pipeline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("pipeline", help="catalog name, compiled YAML path or registry template URL")
    add_run_options(p)
    p.add_argument("--display-name", metavar="NAME", help="run name (default: the pipeline's)")
    p.add_argument("--job-id", metavar="ID", help="run id (default: PIPELINE-TIMESTAMP-RANDOM)")
    p.add_argument("--experiment", metavar="NAME", help="Vertex AI experiment to log the run to")
    p.add_argument("--wait", action="store_true", help="follow the run until it ends")
    p.add_argument(
        "--poll-interval",
        type=_positive,
        default=15.0,
        metavar="SECONDS",
        help="seconds between state checks with --wait (15)",
    )
    p.set_defaults(handler=_submit)


def _submit(args) -> int:
    import tempfile
    from pathlib import Path

    from vtp.cloud import pipeline_job, submit
    from vtp.cloud.vertex_client import target

    where = target(args.config.value("project"), args.config.value("location"))
    options = run_options(args, display_name=args.display_name, job_id=args.job_id)
    experiment = pipeline_job.check_experiment(args.experiment)
    with tempfile.TemporaryDirectory(prefix="vtp-template-") as work:
        template, values = submit.prepare(
            args.pipeline,
            where,
            work_dir=Path(work),
            images=args.config.images(),
            compiled=args.config.value("compiled"),
            **parameters(args),
        )
        return _send(args, where, options, experiment, template, values)


def _send(args, where, options, experiment, template, values) -> int:
    from vtp.cloud import submit

    source = template.template_uri or template.path
    print(
        f"vtp: submitting pipeline {template.pipeline_name!r} ({source}) to {where.parent}",
        file=sys.stderr,
    )
    run = submit.submit(template, values, options, where, experiment=experiment)
    print(f"run      {run.resource_name}")
    print(f"console  {run.console_url}", flush=True)
    if not args.wait:
        return 0
    try:
        state = submit.wait(run.job, poll_seconds=args.poll_interval)
    except KeyboardInterrupt:
        submit.cancel(run.job)
        print(f"vtp: interrupted: asked Vertex AI to cancel {run.resource_name}", file=sys.stderr)
        return 130
    print(f"state    {state.removeprefix('PIPELINE_STATE_')}")
    error = submit.final_error(run.job)
    if error:
        print(f"error    {error}")
    return submit.FINAL_STATES[state]
