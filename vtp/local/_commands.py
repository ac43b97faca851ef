"""How each pool starts as a local process: its command, environment and working directory.

There are no images here, so an image is run through a mapping of images to what they run:

- the configuration's `image_commands` table or, over it, `VTP_IMAGE_COMMANDS` (JSON)
  (`vtp.local.image_commands`): `{"IMAGE": VALUE}` where IMAGE is the exact URI or the URI
  without tag/digest, and VALUE is the command its ENTRYPOINT runs (a list, or a string split
  like a shell line) or a table `{"command": ..., "env": {...}, "workdir": DIR,
  "pythonpath": [DIR, ...]}` (what the image's ENV, WORKDIR and installed code provide);
- built-in entries for vtp's reference trainer images (`vtp-trainer`, `vtp-trainer-gpu`,
  `vtp-trainer-distributed`, any registry or tag): their ENTRYPOINT's module, with the
  trainers' sources (shipped with vtp) on `PYTHONPATH`, as `/app` is in the image.

A pool without `command` needs a mapping (or the docker runtime, which runs the image itself);
a pool with a `command` runs it, with the mapping's environment when the image has one. A
`python` at the head of a command is the mapped image's interpreter, else this one. A Python
package pool runs `python -m MODULE` in its cached environment (`trainer_envs`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vtp.errors import JobError
from vtp.local._pools import Pool
from vtp.local.docker_runtime import DOCKER, RUNTIME_ENV, runtime_from_env
from vtp.local.image_commands import (
    IMAGE_COMMANDS_ENV,
    configured_image_commands_and_source,
    parse_image_commands,
    resolve_directories,
)

BUILTIN = "built-in"
_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")


@dataclass(frozen=True)
class ImageCommand:
    """What a local replica of an image runs: the command of its ENTRYPOINT, the variables
    of its ENV, its WORKDIR, and directories of its code for `PYTHONPATH`."""

    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = ""
    pythonpath: tuple[str, ...] = ()
    source: str = ""

    @property
    def interpreter(self) -> str | None:
        """The image's `python`: the command's head when it is a path to a Python (such as a
        virtual environment's), else None (a bare `python` is this environment's)."""
        head = self.command[0] if self.command else ""
        return head if "/" in head and _PYTHON.match(os.path.basename(head)) else None


@dataclass(frozen=True)
class Launch:
    """How a pool's replicas start: `command` (before the pool's args), `env` added under
    the pool's own `env`, `pythonpath` entries, and `cwd` (None: a fresh directory each)."""

    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    pythonpath: list[str] = field(default_factory=list)
    cwd: str | None = None
    description: str = ""


def to_image_command(value: object, source: str) -> ImageCommand:
    """An `ImageCommand` from a value of the mapping as `parse_image_commands` gives it."""
    if isinstance(value, ImageCommand):
        return value
    table = value if isinstance(value, Mapping) else {"command": value}
    return ImageCommand(
        command=tuple(table["command"]),
        env=dict(table.get("env") or {}),
        workdir=str(table.get("workdir") or ""),
        pythonpath=tuple(table.get("pythonpath") or ()),
        source=source,
    )


def image_commands_from_env(environ: Mapping[str, str] | None = None) -> dict[str, ImageCommand]:
    """The mapping in effect (`vtp.local.image_commands`): `$VTP_IMAGE_COMMANDS` (JSON), else
    the configuration's `image_commands` table, else `{}`."""
    mapping, source = configured_image_commands_and_source(environ)
    return {image: to_image_command(value, source) for image, value in mapping.items()}


def as_image_commands(mapping: Mapping[str, object] | None) -> dict[str, ImageCommand] | None:
    """`mapping` with every value an `ImageCommand` (raw values, such as a command list, are
    read as the configuration's values, relative directories from here); None stays None."""
    if mapping is None or all(isinstance(v, ImageCommand) for v in mapping.values()):
        return None if mapping is None else dict(mapping)  # type: ignore[arg-type]
    parsed = resolve_directories(parse_image_commands(mapping, "image_commands"), Path.cwd())
    return {image: to_image_command(value, "image_commands") for image, value in parsed.items()}


def builtin_image_commands() -> dict[str, ImageCommand]:
    """vtp's reference trainer images, by image name (without registry and tag)."""
    from vtp.shipped import trainers_root

    root = str(trainers_root())

    def entry(module: str) -> ImageCommand:
        return ImageCommand(("python", "-m", module), pythonpath=(root,), source=BUILTIN)

    return {
        "vtp-trainer": entry("trainer.task"),
        "vtp-trainer-gpu": entry("trainer.task"),
        "vtp-trainer-distributed": entry("trainer.distributed.task"),
    }


def untagged(image_uri: str) -> str:
    """`host/repo/img:tag` and `host/repo/img@sha256:...` -> `host/repo/img`."""
    name = image_uri.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def find_image_command(image_uri: str, mapping: Mapping[str, ImageCommand]) -> ImageCommand | None:
    """The mapping's entry for the exact URI, else for the URI without tag, else the built-in
    entry of a reference trainer image."""
    found = mapping.get(image_uri) or mapping.get(untagged(image_uri))
    if found is None:
        found = builtin_image_commands().get(untagged(image_uri).rsplit("/", 1)[-1])
    return found


def unmapped_image_error(image_uri: str, where: str) -> JobError:
    """The error for an image that has neither a local command nor a docker runtime."""
    example = json.dumps({untagged(image_uri): ["python", "-m", "trainer.task"]})
    return JobError(
        f"{where}: image {image_uri!r} runs its own ENTRYPOINT, and there are no images "
        "locally, so vtp does not know what to run (and runs nothing in its place). Either map "
        "the image to the command its ENTRYPOINT runs, in the configuration's `image_commands` "
        f"table (`vtp config`) or e.g. {IMAGE_COMMANDS_ENV}='{example}' (exact URI or URI "
        'without tag; a value may also be {"command": [...], "env": {...}, "workdir": DIR, '
        '"pythonpath": [DIR]}), or run the image itself with the docker runtime (--runtime '
        f"docker or {RUNTIME_ENV}=docker; needs a Docker engine)."
    )


def pool_launch(
    pool: Pool,
    mapping: Mapping[str, ImageCommand],
    *,
    gcs_root: Path | None = None,
    envs_root: Path | None = None,
    log: Callable[[str], None] = print,
) -> Launch:
    """How `pool`'s replicas start locally (a Python package's environment is built here).

    Under the docker runtime (`$VTP_RUNTIME=docker`) a pool without a command needs no
    mapping: its image's ENTRYPOINT runs in its container, and the command is `[]`.

    Raises:
        JobError: the image has no local command, or the package cannot be installed.
    """
    if pool.is_python_package:
        if runtime_from_env() == DOCKER:  # the container installs the package itself
            return Launch([])
        return _package_launch(pool, gcs_root, envs_root, log)
    mapped = find_image_command(pool.image_uri, mapping)
    command = list(pool.command)
    if not command:
        if mapped is None:
            if runtime_from_env() == DOCKER:
                return Launch([])
            raise unmapped_image_error(pool.image_uri, f"{pool.field}.container_spec")
        command = list(mapped.command)
    if _PYTHON.match(os.path.basename(command[0])):
        command[0] = (mapped.interpreter if mapped else None) or sys.executable
    shown = shlex.join(pool.command or mapped.command) if mapped else shlex.join(command)
    if mapped is None:
        return Launch(command, description=f"`{shown}` (its command; no image mapping)")
    return Launch(
        command,
        env=dict(mapped.env),
        pythonpath=list(mapped.pythonpath),
        cwd=mapped.workdir or None,
        description=f"`{shown}` (image mapping: {mapped.source})",
    )


def _package_launch(
    pool: Pool, gcs_root: Path | None, envs_root: Path | None, log: Callable[[str], None]
) -> Launch:
    from vtp.home import local_gcs_root, vtp_home
    from vtp.local.replica_env import rewrite_gcs
    from vtp.local.trainer_envs import ENVS_DIR, ensure_env

    field_name = f"{pool.field}.python_package_spec"
    if not pool.package_uris:
        raise JobError(f"{field_name}.package_uris is empty: there is no package to install")
    home = vtp_home()
    gcs_root = gcs_root or local_gcs_root(home)
    files = []
    for uri in pool.package_uris:
        path = Path(rewrite_gcs(uri, gcs_root)).expanduser()
        if not path.is_file():
            raise JobError(
                f"{field_name}.package_uris: {uri} does not exist locally (looked at {path}); "
                "stage the package with `vtp trainer package DIR` (or copy it there)"
            )
        files.append(path)
    env = ensure_env(files, envs_root or home / ENVS_DIR, module=pool.python_module, log=log)
    return Launch(
        [str(env.python), "-m", pool.python_module],
        description=f"`python -m {pool.python_module}` in the package's environment {env.root}",
    )
