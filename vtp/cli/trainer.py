"""`vtp trainer package`: a local trainer as the Python package Vertex AI runs, staged."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

EPILOG = """SOURCE is a directory with pyproject.toml or setup.py (built as it is), or a script or
a directory of scripts (wrapped as Vertex AI's SDK wraps a script: package
aiplatform_custom_trainer_script, module aiplatform_custom_trainer_script.task, requirements
from requirements.txt beside it or --requirement).

The package goes to --staging-uri under a folder named by the hash of its content: into the
local Cloud Storage root (<home>/gcs/...) by default, into Cloud Storage with --upload.

examples:
  vtp trainer package ./my_trainer
  vtp trainer package train.py --requirement scikit-learn==1.6.1 --params-out trainer.yaml
  vtp run training --local --params trainer.yaml
  vtp trainer package ./my_trainer --upload --staging-uri gs://my-bucket/trainers
"""


def register(sub, home) -> None:
    """Adds `vtp trainer package`."""
    trainer = sub.add_parser(
        "trainer",
        help="package a local trainer as the Python package Vertex runs",
        description="Build, stage and describe a trainer as a Vertex AI Python package.",
    )
    actions = trainer.add_subparsers(dest="trainer_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "package",
        parents=[home],
        help="build a source distribution of SOURCE and stage it",
        description="Build a source distribution of a trainer directory or script, stage it "
        "and print the pipeline parameters that run it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_package_options(p)
    p.add_argument("source", metavar="SOURCE", help="trainer directory or script")
    p.add_argument(
        "--staging-uri",
        metavar="GS_URI",
        help="gs://BUCKET[/PREFIX] to stage to (default: $VTP_STAGING_URI, else "
        "gs://vtp-staging/trainers)",
    )
    p.add_argument(
        "--upload",
        action="store_true",
        help="upload to Cloud Storage (google-cloud-storage) instead of the local root",
    )
    p.add_argument("--params-out", metavar="FILE", help="also write the parameters as YAML")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_package)


def add_package_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """`--module`, `--requirement`, `--executor-image` (shared with `vtp run --trainer`)."""
    parser.add_argument(
        f"--{prefix}module",
        metavar="MODULE",
        default="",
        help="module to run (default: the package's one task.py, or "
        "aiplatform_custom_trainer_script.task for a script)",
    )
    parser.add_argument(
        f"--{prefix}requirement",
        action="append",
        metavar="REQ",
        help="a requirement of a script or script directory (repeatable; default: its "
        "requirements.txt)",
    )
    parser.add_argument(
        f"--{prefix}executor-image",
        metavar="URI",
        help="prebuilt training container it runs on (default: the scikit-learn one)",
    )


def package_trainer(
    source: str,
    *,
    home,
    module: str = "",
    requirements: list[str] | None = None,
    executor_image: str | None = None,
    staging_uri: str | None = None,
    upload: bool = False,
) -> dict:
    """Build and stage `source`; returns the record printed (parameters under `params`)."""
    import os
    import tempfile

    from vtp import defaults
    from vtp.components.specs.prebuilt_training import check_executor_image
    from vtp.packaging import DEFAULT_STAGING_URI, build_trainer, stage_gcs, stage_local

    executor = check_executor_image(
        executor_image or defaults.PACKAGE_EXECUTOR_IMAGE, "--executor-image"
    )
    staging = staging_uri or os.environ.get("VTP_STAGING_URI") or DEFAULT_STAGING_URI
    with tempfile.TemporaryDirectory(prefix="vtp-trainer-") as tmp:
        built = build_trainer(source, Path(tmp), module=module, requirements=requirements or None)
        staged = stage_gcs(built, staging) if upload else stage_local(built, staging, home.gcs_root)
    return {
        "source": str(built.source),
        "sdist": built.sdist.name,
        "wrapped": built.wrapped,
        "requirements": list(built.requirements),
        "uri": staged.uri,
        "local_path": str(staged.local_path) if staged.local_path else None,
        "params": {
            "package_uris": [staged.uri],
            "python_module": built.python_module,
            "executor_image_uri": executor,
            "trainer_args": [],
        },
    }


def run_line(pipeline: str, params: dict) -> str:
    """The `vtp run ... --local` command that runs `params`."""
    parts = ["vtp", "run", pipeline, "--local"]
    for name, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts += ["--param", f"{name}={text}"]
    return shlex.join(parts)


def _package(args) -> int:
    from vtp.home import LocalHome

    home = LocalHome.resolve(args.config.value("home"))
    record = package_trainer(
        args.source,
        home=home,
        module=args.module,
        requirements=args.requirement,
        executor_image=args.executor_image,
        staging_uri=args.staging_uri,
        upload=args.upload,
    )
    if args.params_out:
        import yaml

        Path(args.params_out).write_text(yaml.safe_dump(record["params"], sort_keys=False))
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    what = "wrapped as the SDK wraps a script" if record["wrapped"] else "its own packaging"
    requirements = ", ".join(record["requirements"]) or "none"
    lines = [
        f"built      {record['sdist']}  ({record['source']}, {what}; requirements: {requirements})",
        f"staged     {record['uri']}"
        + (f"  ({record['local_path']})" if record["local_path"] else "  (Cloud Storage)"),
        f"module     {record['params']['python_module']}",
        f"executor   {record['params']['executor_image_uri']}",
    ]
    if args.params_out:
        lines.append(f"params     {args.params_out}  (vtp run PIPELINE --local --params FILE)")
    lines.append(f"run it     {run_line('training', record['params'])}")
    print("\n".join(lines))
    sys.stdout.flush()
    return 0
