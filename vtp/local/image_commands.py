"""The local mapping of images to commands: what runs locally for a container image that would
run its own ENTRYPOINT on Vertex (no `container_spec.command`).

It comes from the configuration's `image_commands` table (`vtp config`) or, over it, from
`$VTP_IMAGE_COMMANDS` (a JSON object). Both go through `parse_image_commands`, the one reader
of the mapping's values. A value is the command the image's ENTRYPOINT runs (a list, or a
string split like a shell line), or a table that also says what the image provides besides:
`{"command": ..., "env": {NAME: VALUE}, "workdir": DIR, "pythonpath": [DIR, ...]}` (its ENV,
its WORKDIR, where its code is). Relative directories are taken from the configuration file's
directory, or from the working directory for `$VTP_IMAGE_COMMANDS`.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vtp.errors import SpecError

IMAGE_COMMANDS_ENV = "VTP_IMAGE_COMMANDS"
VALUE_FORM = (
    'must map an image URI to its command: ["command", "arg", ...] or "command arg ...", or '
    'to a table {"command": ..., "env": {...}, "workdir": "DIR", "pythonpath": ["DIR", ...]}'
)
#: The keys of a table value.
TABLE_KEYS = ("command", "env", "workdir", "pythonpath")

#: A value as parsed: the command, or a table of `TABLE_KEYS` (command a list).
Value = list[str] | dict[str, Any]


def parse_image_commands(mapping: object, field: str) -> dict[str, Value]:
    """`{image_uri: value}` from a mapping read from TOML or JSON, every value checked: a
    command (a list of strings, or one string split like a shell command line) stays a list;
    a table keeps the keys it gives, its command a list. The key is an image URI with or
    without its tag or digest.

    Raises:
        SpecError: naming `field[image]` (and the table key) and the value that is refused.
    """
    if not isinstance(mapping, Mapping):
        raise SpecError(field, mapping, VALUE_FORM)
    out: dict[str, Value] = {}
    for image, value in mapping.items():
        where = f"{field}[{image!r}]"
        if not isinstance(image, str) or not image.strip():
            raise SpecError(field, image, "keys must be image URIs")
        if not isinstance(value, Mapping):
            out[image] = _command(where, value)
            continue
        unknown = sorted(set(value) - set(TABLE_KEYS))
        if unknown:
            raise SpecError(where, sorted(value), f"may hold only {', '.join(TABLE_KEYS)}")
        table: dict[str, Any] = {"command": _command(f"{where}.command", value.get("command"))}
        env = value.get("env", {})
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | int | float) for k, v in env.items()
        ):
            raise SpecError(f"{where}.env", env, "must map variable names to strings")
        if env:
            table["env"] = {k: str(v) for k, v in env.items()}
        workdir = value.get("workdir", "")
        if not isinstance(workdir, str):
            raise SpecError(f"{where}.workdir", workdir, "must be a directory path")
        if workdir:
            table["workdir"] = workdir
        paths = value.get("pythonpath", [])
        if isinstance(paths, str):
            paths = [p for p in paths.split(os.pathsep) if p]
        if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
            raise SpecError(f"{where}.pythonpath", paths, "must be a list of directories")
        if paths:
            table["pythonpath"] = list(paths)
        out[image] = table
    return out


def _command(where: str, value: object) -> list[str]:
    try:
        command = shlex.split(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise SpecError(where, value, f"{VALUE_FORM} ({exc})") from None
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(c, str) and c for c in command)
    ):
        raise SpecError(where, value, VALUE_FORM)
    return list(command)


def resolve_directories(mapping: Mapping[str, Value], base: Path) -> dict[str, Value]:
    """The mapping with every relative `workdir` / `pythonpath` made absolute from `base`."""
    out: dict[str, Value] = {}
    for image, value in mapping.items():
        if isinstance(value, dict):
            value = dict(value)
            if value.get("workdir"):
                value["workdir"] = str((base / value["workdir"]).expanduser().resolve())
            if value.get("pythonpath"):
                value["pythonpath"] = [
                    str((base / p).expanduser().resolve()) for p in value["pythonpath"]
                ]
        out[image] = value
    return out


def parse_image_commands_json(raw: str, field: str = IMAGE_COMMANDS_ENV) -> dict[str, Value]:
    """The mapping from its JSON text (`$VTP_IMAGE_COMMANDS`); `{}` for blank text."""
    if not raw.strip():
        return {}
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SpecError(field, raw, f"must be a JSON object: {VALUE_FORM} ({exc})") from None
    return parse_image_commands(mapping, field)


def configured_image_commands(environ: Mapping[str, str] | None = None) -> dict[str, Value]:
    """The mapping in effect: `$VTP_IMAGE_COMMANDS`, else the configuration's table, else {};
    relative directories resolved (from the file's directory for the table)."""
    mapping, _ = configured_image_commands_and_source(environ)
    return mapping


def configured_image_commands_and_source(
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Value], str]:
    """`configured_image_commands` and where the mapping came from (`env VTP_IMAGE_COMMANDS`,
    the configuration file, or `default`)."""
    from vtp import config

    loaded = config.load(environ=environ)
    setting = loaded.settings["image_commands"]
    base = loaded.path.parent if setting.kind == "file" and loaded.path else Path.cwd()
    return resolve_directories(setting.value or {}, base), setting.source
