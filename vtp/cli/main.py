"""`vtp`: run vtp's training pipelines locally, compile and check them, ship them to Vertex AI.

Exit codes: 0 success; 1 a run failed, a check found problems or an API refused a request;
2 bad usage or bad input (unknown parameter, wrong type, invalid payload); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Modules that add their own commands: each has `register(subparsers, home_parent)`, which adds
#: a parser whose defaults set `handler(args) -> exit code`. They import only argparse at load.
COMMAND_MODULES = (
    "vtp.cli.config",
    "vtp.cli.check",
    "vtp.cli.image",
    "vtp.cli.publish",
    "vtp.cli.submit",
    "vtp.cli.schedule",
    "vtp.cli.trainer",
)

EPILOG = """examples, from laptop to Vertex:
  vtp run training --local                      train on the shipped data, on this machine
  vtp run tuning --local --param final_model=retrain
  vtp run distributed --local --param worker_count=2
  vtp run training --local --trainer ./my_trainer   your trainer, as the package Vertex runs
  vtp trainer package ./my_trainer --params-out trainer.yaml
  vtp models list                               models in the local registry
  vtp compile --check                           is compiled/ in sync with the source?
  vtp check --local                             validate every Vertex payload in compiled/
  vtp image push all --registry us-central1-docker.pkg.dev/my-proj/images
  vtp publish --project my-proj --repository pipelines
  vtp submit training --project my-proj --pipeline-root gs://my-bucket/runs --wait
  vtp schedule create training --cron "TZ=Europe/Paris 0 6 * * 1-5" --project my-proj

`vtp COMMAND --help` describes each command. Exit codes: 0 ok, 1 failed, 2 bad input,
130 interrupted.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vtp",
        description="Training pipelines for Vertex AI, and their local twin.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from vtp import __version__

    p.add_argument("--version", action="version", version=f"vtp {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    home = argparse.ArgumentParser(add_help=False)
    home.add_argument(
        "--home",
        metavar="DIR",
        help="root of local state (default: `home` of `vtp config`: $VTP_HOME, the "
        "configuration, else ./.vtp)",
    )

    r = sub.add_parser(
        "run",
        parents=[home],
        help="run a pipeline (locally, with --local)",
        description="Run a pipeline on this machine through kfp.local and the local twins.",
    )
    r.add_argument("pipeline", help="pipeline name (see `vtp list`)")
    r.add_argument("--local", action="store_true", help="run on this machine (required)")
    r.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="set a parameter"
    )
    r.add_argument("--params", metavar="FILE", help="YAML/JSON file of parameters")
    r.add_argument("--cache", action="store_true", help="reuse results of identical steps")
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

    ls = sub.add_parser("list", help="list pipelines and their parameters")
    ls.add_argument("pipeline", nargs="?", help="show one pipeline's parameters")

    t = sub.add_parser("tuning", help="local tuning jobs and their trials")
    tsub = t.add_subparsers(dest="tuning_command", required=True, metavar="ACTION")
    tsub.add_parser("list", parents=[home], help="every local tuning job, newest first")
    tt = tsub.add_parser("trials", parents=[home], help="a job's finished trials")
    tt.add_argument("job", nargs="?", help="tuning job id (default: the newest)")

    m = sub.add_parser("models", help="inspect the local model registry")
    msub = m.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    msub.add_parser("list", parents=[home], help="every model, at its default version")
    show = msub.add_parser("show", parents=[home], help="one model's versions")
    show.add_argument("name", help="display name, model id or resource name (@version/@alias)")
    from vtp.cli import models as models_cli

    models_cli.register(msub, home)

    c = sub.add_parser("compile", help="compile pipelines and components to YAML")
    c.add_argument(
        "--out", metavar="DIR", help="output dir (default: `compiled` of `vtp config`: compiled)"
    )
    c.add_argument("--check", action="store_true", help="fail, naming files, if DIR is stale")
    c.add_argument(
        "--component-image",
        metavar="URI",
        help="image of vtp's Python components (default: `component_image` of `vtp config`)",
    )

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, home)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from vtp import config
    from vtp.errors import RemoteError, VtpError

    try:
        # Read and checked before any command runs: a bad value stops it here (exit code 2).
        args.config = config.load(flags=config.flags_from(args))
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args)
    except KeyboardInterrupt:
        print("vtp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RemoteError as err:  # Vertex AI or a registry refused or could not be reached
        print(f"vtp: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except VtpError as err:
        print(f"vtp: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _compile(args) -> int:
    from vtp import compiler as compiling

    config = args.config
    out = Path(config.value("compiled"))
    images = config.images()
    if args.check:
        drift = compiling.check(out, images=images)
        if drift.clean:
            print(f"{out}/ is up to date")
            return EXIT_OK
        for label, files in (("stale", drift.stale), ("missing", drift.missing)):
            for f in files:
                print(f"{label}: {f}", file=sys.stderr)
        for f in drift.extra:
            print(f"not produced by the source: {f}", file=sys.stderr)
        print("run `vtp compile` to regenerate", file=sys.stderr)
        return EXIT_FAILED
    for path in compiling.compile_all(out, images=images):
        print(f"wrote {path}")
    stamped = [("components", images.component)]
    stamped += [(key, images.trainer(key)) for key in sorted(images.trainers)]
    for i, (key, image) in enumerate(stamped):
        print(f"{'images' if i == 0 else '':<8} {image}  ({key})")
    return EXIT_OK


def _run(args) -> int:
    if not args.local:
        print(
            "vtp: error: `vtp run` runs pipelines on this machine: add --local "
            "(for Vertex AI, compile and submit the YAML under compiled/pipelines/)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from vtp.local.executor import select_runtime

    select_runtime(args.runtime)  # docker: fails now without an engine; steps read $VTP_RUNTIME
    if args.tuning_seed is not None:
        if args.tuning_seed < 0:
            print(
                f"vtp: error: --tuning-seed must be >= 0, got {args.tuning_seed}", file=sys.stderr
            )
            return EXIT_USAGE
        os.environ["VTP_TUNING_SEED"] = str(args.tuning_seed)  # read by the tuning twin's step
    from vtp import catalog, config, params
    from vtp.cli.summary import as_json, summarize
    from vtp.components.targets import LOCAL
    from vtp.defaults import LOCAL_PROJECT
    from vtp.home import LocalHome
    from vtp.local.run import RunFailed, run_pipeline

    module = catalog.pipeline_module(args.pipeline)
    pipeline = module.build(LOCAL)
    assignments = params.parse_assignments(args.param)
    file_values = params.load_params_file(args.params) if args.params else {}
    home = LocalHome.resolve(args.config.value("home"))
    if args.trainer:
        trainer = _trainer_values(args, home, assignments, file_values)
        declared = params.declared_inputs(pipeline)
        file_values = {**file_values, **{k: v for k, v in trainer.items() if k in declared}}
    values = params.resolve(
        pipeline,
        assignments=assignments,
        file_values=file_values or None,
        fallbacks={"project": LOCAL_PROJECT},
    )
    effective = params.effective(pipeline, values)
    if hasattr(module, "check_params"):
        module.check_params(effective)
    config.export(args.config)  # the component steps are processes: they read the same file
    _preflight(pipeline, effective, home)
    try:
        record = run_pipeline(
            args.pipeline, values, home=home, cache=args.cache, verbose=args.verbose
        )
    except RunFailed as err:
        record = err.record
        print(f"\nvtp: {err}", file=sys.stderr)
        if record is not None:
            print(summarize(record), file=sys.stderr)
        return EXIT_INTERRUPTED if record and record.state == "CANCELLED" else EXIT_FAILED
    from vtp.local.registry import LocalModelRegistry

    registry = LocalModelRegistry(home.registry_db)
    print(as_json(record) if args.json else "\n" + summarize(record, registry))
    return EXIT_OK


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


def _preflight(pipeline, values: dict, home) -> None:
    """Before any step: the trainer can run here (else exit 2), its environment is ready."""
    from vtp import params
    from vtp.local._docker import runtime_from_env
    from vtp.local.preflight import check_local_trainer, reference_default_notice

    def say(line: str) -> None:
        print(f"vtp: {line}", file=sys.stderr, flush=True)

    trainer = check_local_trainer(
        values,
        runtime=runtime_from_env(),
        gcs_root=home.gcs_root,
        envs_root=home.root / "envs",
        log=say,
    )
    if trainer is not None:
        defaults = {n: s.default for n, s in params.declared_inputs(pipeline).items()}
        notice = reference_default_notice(values, defaults, trainer)
        if notice:
            say(notice)


def _list(args) -> int:
    from vtp import catalog, params
    from vtp.components.targets import LOCAL

    names = [args.pipeline] if args.pipeline else sorted(catalog.PIPELINES)
    for name in names:
        module = catalog.pipeline_module(name)
        print(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        if args.pipeline:
            for pname, spec in params.declared_inputs(module.build(LOCAL)).items():
                default = f" = {spec.default!r}" if spec.optional else "  (required)"
                print(f"  {pname}: {spec.type}{default}")
    return EXIT_OK


def _models(args) -> int:
    if getattr(args, "models_handler", None):
        return args.models_handler(args)
    from vtp.home import LocalHome
    from vtp.local.registry import LocalModelRegistry
    from vtp.local.registry_format import format_model_details, format_models_table

    home = LocalHome.resolve(args.config.value("home"))
    if not home.registry_db.exists():
        print(f"no local registry yet at {home.registry_db} (run a pipeline first)")
        return EXIT_OK
    registry = LocalModelRegistry(home.registry_db)
    if args.models_command == "list":
        print(format_models_table(registry.list_models()))
    else:
        print(format_model_details(registry.list_versions(args.name)))
    return EXIT_OK


def _tuning(args) -> int:
    from vtp.home import LocalHome
    from vtp.local import tuning_records

    root = LocalHome.resolve(args.config.value("home")).root
    if args.tuning_command == "list":
        print(tuning_records.format_jobs(tuning_records.jobs(root)))
    else:
        print(tuning_records.format_trials(*tuning_records.trials(root, args.job)))
    return EXIT_OK


COMMANDS = {
    "compile": _compile,
    "run": _run,
    "list": _list,
    "tuning": _tuning,
    "models": _models,
}

if __name__ == "__main__":
    sys.exit(main())
