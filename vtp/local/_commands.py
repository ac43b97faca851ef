"""The command each pool runs locally: image ENTRYPOINT mapping, `python`, `-m module`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from vtp.errors import JobError
from vtp.local._docker import DOCKER, RUNTIME_ENV, runtime_from_env
from vtp.local._pools import Pool
from vtp.local.image_commands import IMAGE_COMMANDS_ENV, configured_image_commands

_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")


def image_commands_from_env(environ: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """The `{image_uri: [command...]}` mapping in effect: `$VTP_IMAGE_COMMANDS` (JSON), else
    the configuration's `image_commands` table, else `{}` (`vtp.local.image_commands`)."""
    return configured_image_commands(environ)


def pool_command(pool: Pool, mapping: Mapping[str, Sequence[str]]) -> list[str]:
    """The command a pool runs before its args, with `python` made our interpreter.

    Under the docker runtime (`$VTP_RUNTIME=docker`) a pool without a command needs no
    mapping: its image's ENTRYPOINT runs in its container, and the result is `[]`.
    """
    if pool.is_python_package:
        return [sys.executable, "-m", pool.python_module]
    command = list(pool.command)
    if not command:
        untagged = _untagged(pool.image_uri)
        found = mapping.get(pool.image_uri) or mapping.get(untagged)
        if not found and runtime_from_env() == DOCKER:
            return []
        if not found:
            example = json.dumps({untagged: ["python", "-m", "trainer.task"]})
            raise JobError(
                f"{pool.field}.container_spec has no command, so the ENTRYPOINT of image "
                f"{pool.image_uri!r} would run; there are no images locally. Map the image to "
                f"the command its ENTRYPOINT runs: `image_commands` in the configuration "
                f"(`vtp config`), or {IMAGE_COMMANDS_ENV}='{example}' "
                "(exact URI or URI without tag/digest), set container_spec.command, or run "
                f"the image itself with the docker runtime ({RUNTIME_ENV}=docker)."
            )
        command = list(found)
    if _PYTHON.match(os.path.basename(command[0])):
        command[0] = sys.executable
    return command


def _untagged(image_uri: str) -> str:
    """`host/repo/img:tag` and `host/repo/img@sha256:...` -> `host/repo/img`."""
    name = image_uri.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def check_module(pool: Pool, env: Mapping[str, str], cwd: Path | None) -> None:
    """Fail early when a python_package_spec module is not importable here."""
    probe = (
        "import importlib.util, sys\n"
        "try:\n    found = importlib.util.find_spec(sys.argv[1]) is not None\n"
        "except ImportError:\n    found = False\n"
        "sys.exit(0 if found else 3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, pool.python_module],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise JobError(
            f"{pool.field}.python_package_spec.python_module {pool.python_module!r} is not "
            f"importable by {sys.executable}. package_uris {list(pool.package_uris)} are not "
            "installed by the local runtime: the package must be installed in the local "
            "environment (e.g. pip install -e <your trainer>) or be on PYTHONPATH."
        )
