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
    "vtp.cli.listing",
    "vtp.cli.run",
    "vtp.cli.check",
    "vtp.cli.image",
    "vtp.cli.publish",
    "vtp.cli.submit",
    "vtp.cli.schedule",
    "vtp.cli.trainer",
    "vtp.cli.runs",
    "vtp.cli.ui",
)

EPILOG = """examples, from laptop to Vertex:
  vtp run training --local                      train on the shipped data, on this machine
  vtp run tuning --local --param final_model=retrain
  vtp run distributed --local --param worker_count=2
  vtp run training --local --trainer ./my_trainer   your trainer, as the package Vertex runs
  vtp trainer package ./my_trainer --params-out trainer.yaml
  vtp runs list                                 local runs: state, duration, metrics, model
  vtp ui                                        browse runs, trials and models at 127.0.0.1:8765
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
    except BrokenPipeError:  # `vtp ... | head`: the reader left; end quietly
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print("vtp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RemoteError as err:  # Vertex AI or a registry refused or could not be reached
        print(f"vtp: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except VtpError as err:
        print(f"vtp: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _output_dir(raw: str) -> Path:
    """`vtp compile --out`: a directory that is (or will be) vtp's compiled output, never a
    file, the current directory unnamed, or a directory of Python source packages.

    Raises:
        VtpError: naming the option, the value and what is allowed.
    """
    from vtp.errors import VtpError

    allowed = "must name a directory for the compiled YAML (e.g. compiled)"
    if not raw.strip():
        raise VtpError(f"--out {allowed}, got {raw!r}")
    out = Path(raw)
    if out.exists() and not out.is_dir():
        raise VtpError(f"--out {allowed}, got {raw!r}, which is a file")
    for package in ("pipelines", "components"):
        if (out / package / "__init__.py").is_file():
            raise VtpError(
                f"--out {allowed}, got {raw!r}: its {package}/ holds Python sources the "
                "compiled YAML would be written among"
            )
    return out


def _silence_stdout() -> None:
    """Points stdout at /dev/null, so the interpreter's final flush raises nothing."""

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _compile(args) -> int:
    from vtp import compiler as compiling

    config = args.config
    out = _output_dir(str(config.value("compiled")))
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


def _models(args) -> int:
    if getattr(args, "models_handler", None):
        return args.models_handler(args)
    from vtp.home import LocalHome
    from vtp.local.recovery import recover
    from vtp.local.registry import LocalModelRegistry
    from vtp.local.registry_format import format_model_details, format_models_table

    home = LocalHome.resolve(args.config.value("home"))
    recover(home)
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
    from vtp.local.recovery import recover

    home = LocalHome.resolve(args.config.value("home"))
    recover(home)
    root = home.root
    if args.tuning_command == "list":
        print(tuning_records.format_jobs(tuning_records.jobs(root)))
    else:
        job_id, rows = tuning_records.trials(root, args.job)
        spec = tuning_records.study_spec(root, job_id)
        print(tuning_records.format_trials(job_id, rows, spec))
    return EXIT_OK


COMMANDS = {
    "compile": _compile,
    "tuning": _tuning,
    "models": _models,
}


def command() -> int:
    """The `vtp` program (`python -m vtp` too): `main`, then an exit whose garbage collection
    skips what is still alive (`gc.freeze`): the interpreter tears down the same way, 0.1 s
    sooner, with what a run imported (protobuf descriptors, the Vertex AI types)."""
    import gc

    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(command())
