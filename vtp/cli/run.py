"""`vtp run PIPELINE --local`: run a compiled pipeline on this machine."""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Run a compiled pipeline on this machine with vtp's local orchestrator: the YAML that is
shipped to Vertex AI, task by task, independent tasks at the same time. PIPELINE is a
catalog pipeline (`vtp list`), whose compiled YAML ships with vtp, or the path of any
compiled KFP v2 pipeline YAML (a pipeline built without vtp runs too: GCPC's custom job,
tuning job and model upload and get launchers run on local twins of Vertex).

Parameters are typed from the pipeline's declared inputs and checked before the first step;
anything the local run cannot do (an image without a local command and no Docker engine, a
package that is not installed, a GCPC launcher without a twin) is refused before it starts.

Exit codes: 0 succeeded, 1 the run failed, 2 bad input (nothing ran), 130 interrupted
(SIGINT, SIGTERM or SIGHUP: every step, replica and trial is stopped)."""

EPILOG = """\
examples:
  vtp run training --local
  vtp run tuning --local --param max_trial_count=8 --param parallel_trial_count=2
  vtp run tuning --local --resume tuning-20261122-011824-3f2a1c     after an interrupt
  vtp run training --local --trainer ./my_trainer     your trainer, as the package Vertex runs
  vtp run path/to/pipeline.yaml --local --params params.yaml"""


def register(sub, home) -> None:
    """Adds `vtp run`."""
    r = sub.add_parser(
        "run",
        parents=[home],
        help="run a pipeline (locally, with --local)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("pipeline", help="catalog pipeline name (`vtp list`) or compiled YAML file")
    r.add_argument("--local", action="store_true", help="run on this machine (required)")
    r.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="set a parameter"
    )
    r.add_argument("--params", metavar="FILE", help="YAML/JSON file of parameters")
    r.add_argument("--cache", action="store_true", help="reuse results of identical steps")
    r.add_argument(
        "--parallelism",
        type=int,
        metavar="N",
        help="steps running at once (default: this machine's cores)",
    )
    r.add_argument(
        "--fail-fast",
        action="store_true",
        help="start no new step after one fails (default: independent steps go on, as Vertex)",
    )
    r.add_argument(
        "--no-standby",
        dest="standby",
        action="store_false",
        help="start each step's imports when it starts, not ahead while the steps before it "
        "run (docs/architecture.md, standby steps)",
    )
    r.add_argument(
        "--resume",
        metavar="RUN",
        help="resume an interrupted or failed run: finished steps are kept, a tuning job "
        "continues its study (parameters come from the run)",
    )
    r.add_argument("--verbose", "-v", action="store_true", help="stream every step's log")
    r.add_argument("--json", action="store_true", help="print the run record as JSON")
    r.add_argument(
        "--tuning-seed",
        type=int,
        metavar="N",
        help="seed of the local tuner's sampler (default: a fresh seed per study, recorded; "
        "also $VTP_TUNING_SEED)",
    )
    r.add_argument(
        "--runtime",
        choices=("process", "docker"),
        help="how training replicas run: local processes (default, or $VTP_RUNTIME) or "
        "`docker run` of each worker pool's image (needs a Docker engine)",
    )
    r.add_argument(
        "--trainer",
        metavar="PATH",
        help="run this local trainer (a directory or a script) as the Python package Vertex "
        "runs: packaged and staged like `vtp trainer package PATH`, it sets package_uris, "
        "python_module and executor_image_uri (and trainer_args to empty unless given)",
    )
    from vtp.cli.trainer import add_package_options

    add_package_options(r, prefix="trainer-")
    r.set_defaults(handler=run)


def run(args) -> int:
    saved = os.environ.get("VTP_TUNING_SEED")
    try:
        return _run(args)
    finally:  # --tuning-seed holds for this run only (in-process callers run several)
        if saved is None:
            os.environ.pop("VTP_TUNING_SEED", None)
        else:
            os.environ["VTP_TUNING_SEED"] = saved


def _run(args) -> int:
    from vtp.cli.main import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

    if not args.local:
        print(
            "vtp: error: `vtp run` runs pipelines on this machine: add --local "
            "(for Vertex AI, compile and submit the YAML under compiled/pipelines/)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from vtp.local.executor import select_runtime

    select_runtime(args.runtime)  # docker: fails now without an engine
    if args.tuning_seed is not None:
        if args.tuning_seed < 0:
            print(
                f"vtp: error: --tuning-seed must be >= 0, got {args.tuning_seed}", file=sys.stderr
            )
            return EXIT_USAGE
        os.environ["VTP_TUNING_SEED"] = str(args.tuning_seed)  # read by the tuning twin
    from vtp.cli.summary import as_json, failure_lead, summarize
    from vtp.home import LocalHome
    from vtp.local.orchestrator import default_parallelism
    from vtp.local.orchestrator.records import CANCELLED, SUCCEEDED
    from vtp.local.orchestrator.runner import (
        RunSettings,
        discard_zygote,
        run_plan,
        start_zygote,
    )
    from vtp.local.recovery import recover

    parallelism = _parallelism(args.parallelism)
    from vtp import config
    from vtp.local.registry_schema import check_registry

    home = LocalHome.resolve(args.config.value("home"))
    started: list = []

    def warm_up(plan) -> None:
        """Starts the zygote once the parameters passed the generic checks: it imports KFP's
        executor while the pipeline's own checks run."""
        if plan.uses_python and not started:
            started.append(start_zygote())

    try:
        prepared = _prepare(args, home, warm_up)  # parameters first: nothing runs for bad input
    except BaseException:
        if started:
            discard_zygote(started[0])
        raise
    config.export(args.config)  # the component steps are processes: they read the same file
    zygote = started[0] if started else start_zygote()
    try:
        home.check_usable()
        recover(home)
        check_registry(home.registry_db)  # an empty or corrupt registry, before a run
    except BaseException:
        discard_zygote(zygote)
        raise
    from vtp.local.orchestrator.runner import RunNotStarted

    try:
        record = run_plan(
            prepared.plan,
            prepared.values,
            home=home,
            settings=RunSettings(
                parallelism=parallelism or default_parallelism(),
                cache=args.cache,
                fail_fast=args.fail_fast,
                standby=args.standby,
                verbose=args.verbose,
                progress=sys.stderr,
                label=prepared.label,
                zygote=zygote,
            ),
            resume=prepared.resume,
        )
    except RunNotStarted as err:
        discard_zygote(zygote)
        print(f"vtp: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    if record.state != SUCCEEDED:
        print("\n" + failure_lead(record), file=sys.stderr)
        print("\n" + summarize(record), file=sys.stderr)
        if record.state == CANCELLED:
            print(
                f"resume   vtp run {args.pipeline} --local --resume {record.run_id}",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED if record.state == CANCELLED else EXIT_FAILED
    from vtp.local.registry import LocalModelRegistry

    registry = LocalModelRegistry(home.registry_db) if home.registry_db.exists() else None
    print(as_json(record) if args.json else "\n" + summarize(record, registry))
    return EXIT_OK


def _parallelism(value: int | None) -> int | None:
    from vtp.errors import VtpError

    if value is not None and value < 1:
        raise VtpError(f"--parallelism must be at least 1, got {value}")
    return value


class _Prepared:
    def __init__(self, plan, values, label, resume):
        self.plan = plan
        self.values = values
        self.label = label
        self.resume = resume


def _prepare(args, home, warm_up) -> _Prepared:
    """Everything before the first step: the pipeline, the plan, the checked parameters;
    `warm_up(plan)` is called once the generic checks passed, before the pipeline's own."""
    from vtp import catalog, params
    from vtp.check.values import check_params_file, check_values
    from vtp.defaults import LOCAL_PROJECT
    from vtp.errors import VtpError
    from vtp.local.orchestrator import load_pipeline, make_plan
    from vtp.local.orchestrator.runner import load_for_resume, load_ir_of
    from vtp.local.run import complete_params, pipeline_file

    if args.resume:
        if args.param or args.params or args.trainer:
            raise VtpError(
                "--resume takes the parameters of the run it resumes: drop "
                "--param/--params/--trainer"
            )
        previous = load_for_resume(home, args.resume)
        ir = load_ir_of(previous)
        plan = make_plan(ir)
        warm_up(plan)
        if previous.pipeline in catalog.PIPELINES:
            _preflight(ir, previous.params, home, args)
        return _Prepared(plan, dict(previous.params), previous.pipeline, previous)
    if args.params:
        check_params_file(args.params)
    path = pipeline_file(args.pipeline)
    ir = load_pipeline(path)
    plan = make_plan(ir)
    assignments = params.parse_assignments(args.param)
    file_values = params.load_params_file(args.params) if args.params else {}
    if args.trainer:
        trainer = _trainer_values(args, home, assignments, file_values)
        file_values = {**file_values, **{k: v for k, v in trainer.items() if k in ir.inputs}}
    values = params.resolve(
        _declared(ir),
        assignments=assignments,
        file_values=file_values or None,
        fallbacks={"project": LOCAL_PROJECT} if "project" in ir.inputs else None,
    )
    values = complete_params(ir, values)
    check_values({n: s.kfp_type for n, s in ir.inputs.items()}, values, local=True)
    warm_up(plan)
    if args.pipeline in catalog.PIPELINES:
        module = catalog.pipeline_module(args.pipeline)
        if hasattr(module, "check_params"):
            module.check_params(dict(values))
        _preflight(ir, values, home, args)
    label = args.pipeline if args.pipeline in catalog.PIPELINES else ir.name
    return _Prepared(plan, values, label, None)


def _trainer_values(args, home, assignments: dict, file_values: dict) -> dict:
    """The parameters of `--trainer PATH`, packaged and staged into the local root now."""
    from vtp.cli.trainer import package_trainer
    from vtp.params import ParameterError

    given = set(assignments) | set(file_values)
    clash = sorted(given & {"package_uris", "python_module", "executor_image_uri"})
    if clash:
        raise ParameterError(f"--trainer sets {', '.join(clash)}: do not set them as well")
    record = package_trainer(
        args.trainer,
        home=home,
        module=args.trainer_module,
        requirements=args.trainer_requirement,
        executor_image=args.trainer_executor_image,
    )
    print(
        f"vtp: trainer {record['source']} staged as {record['uri']} "
        f"(module {record['params']['python_module']})",
        file=sys.stderr,
    )
    return {k: v for k, v in record["params"].items() if k not in given}


def _preflight(ir, values, home, args) -> None:
    """Before any step: the trainer of a catalog pipeline can run here (else exit 2), its
    environment is ready (a Python package's is built now, not by the first step)."""
    from vtp import config
    from vtp.local.docker_runtime import runtime_from_env
    from vtp.local.preflight import check_local_trainer, reference_default_notice

    def say(line: str) -> None:
        print(f"vtp: {line}", file=sys.stderr, flush=True)

    config.export(args.config)  # the image mapping is read from the same file as the steps'
    trainer = check_local_trainer(
        values,
        runtime=runtime_from_env(),
        gcs_root=home.gcs_root,
        envs_root=home.root / "envs",
        log=say,
    )
    if trainer is not None:
        defaults = {n: s.default for n, s in ir.inputs.items() if s.has_default}
        notice = reference_default_notice(values, defaults, trainer)
        if notice:
            say(notice)


def _declared(ir):
    """The pipeline's inputs in the form `vtp.params` reads (a KFP component's
    `component_spec.inputs`), from the loaded pipeline rather than a second parse of the file."""
    from types import SimpleNamespace

    inputs = {
        name: SimpleNamespace(
            type=spec.kfp_type,
            optional=spec.optional,
            default=spec.default if spec.has_default else None,
        )
        for name, spec in ir.inputs.items()
    }
    return SimpleNamespace(component_spec=SimpleNamespace(inputs=inputs))
