"""`vtp check [PATHS...]`: validate the Vertex payloads of compiled pipelines before a run."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Validate every Vertex payload a compiled pipeline holds, without running it and without
Google credentials: custom job worker pools, scheduling and job fields (CustomTrainingJobOp),
study specs and trial counts (HyperparameterTuningJobRunOp), model upload fields and serving
containers (ModelUploadOp, UnmanagedContainerModel importers), and the payload inputs of vtp's
own components. Values fixed in the YAML are checked, pipeline parameter defaults included;
values that only a run produces are listed with -v. Nested pipelines, conditions, loops and
exit handlers are walked.

It also flags what `vtp run FILE --local` would refuse before its first step (a condition
that is not CEL of the form KFP compiles, a GCPC launcher without a local twin, an image with
no local command and no Docker engine, a package that is not installed): warnings, or
problems with --local.

Exit codes: 0 no problems, 1 problems found, 2 a path is missing or not a compiled pipeline."""

EPILOG = """\
examples:
  vtp check --local                      vtp's compiled/ pipelines, which also run locally
  vtp check my_pipeline.yaml             one file (Vertex only: local refusals are warnings)
  vtp check build/ -v                    every YAML under build/, with values left to run time

output:
  compiled/pipelines/training.yaml: task 'train' (custom-training-job): worker_pool_specs[0]
    .replica_count must be 1 (the primary pool), got 2
  vtp check: 2 files, 27 tasks, 11 payloads checked: 1 problem, 0 warnings"""


def register(sub, home) -> None:
    """Adds `vtp check`."""
    parser = sub.add_parser(
        "check",
        help="validate the Vertex payloads of compiled pipelines (no credentials needed)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="compiled pipeline/component YAML files or directories (default: pipelines/ and "
        "components/ of `compiled` in `vtp config`, else vtp's shipped templates)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="the pipelines also run locally: what the local orchestrator refuses is a problem",
    )
    parser.add_argument(
        "--template",
        action="store_true",
        help="the files are templates (vtp's checked-in compiled/): vtp images Vertex cannot "
        "pull are warnings, not problems",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also list values checked at run time, and a line per file",
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    """Prints the findings and the summary; 1 if any problem was found."""
    import sys

    from vtp.check.runner import check_paths, default_paths
    from vtp.shipped import compiled_dir

    paths, template = args.paths, args.template
    if not paths:
        paths = default_paths(args.config.value("compiled"))
        if not paths:  # nothing compiled here: vtp's own templates
            paths, template = default_paths(compiled_dir()), True
            print(
                f"vtp check: no {args.config.value('compiled')}/ here: checking vtp's shipped "
                f"templates ({compiled_dir()}); `vtp compile` makes yours",
                file=sys.stderr,
            )
    report = check_paths(paths, local=args.local, images=args.config.images(), template=template)
    for line in report.lines(verbose=args.verbose):
        print(line)
    return 1 if report.problems else 0
