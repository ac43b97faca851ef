"""The local mapping of images to commands: what runs locally for a container image that would
run its own ENTRYPOINT on Vertex (no `container_spec.command`).

It comes from the configuration's `image_commands` table (`vtp config`) or, over it, from
`$VTP_IMAGE_COMMANDS` (a JSON object). Both go through `parse_image_commands`, the one reader
of the mapping's values.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping

from vtp.errors import SpecError

IMAGE_COMMANDS_ENV = "VTP_IMAGE_COMMANDS"
VALUE_FORM = 'must map an image URI to its command: ["command", "arg", ...] or "command arg ..."'


def parse_image_commands(mapping: object, field: str) -> dict[str, list[str]]:
    """`{image_uri: [command...]}` from a mapping read from TOML or JSON.

    A value is a list of strings, or one string split like a shell command line. The key is
    an image URI with or without its tag or digest.

    Raises:
        SpecError: naming `field[image]` and the value that is not a command.
    """
    if not isinstance(mapping, Mapping):
        raise SpecError(field, mapping, VALUE_FORM)
    out: dict[str, list[str]] = {}
    for image, value in mapping.items():
        where = f"{field}[{image!r}]"
        if not isinstance(image, str) or not image.strip():
            raise SpecError(field, image, "keys must be image URIs")
        command = shlex.split(value) if isinstance(value, str) else value
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(c, str) and c for c in command)
        ):
            raise SpecError(where, value, VALUE_FORM)
        out[image] = list(command)
    return out


def parse_image_commands_json(raw: str, field: str = IMAGE_COMMANDS_ENV) -> dict[str, list[str]]:
    """The mapping from its JSON text (`$VTP_IMAGE_COMMANDS`); `{}` for blank text."""
    if not raw.strip():
        return {}
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SpecError(field, raw, f"must be a JSON object: {VALUE_FORM} ({exc})") from None
    return parse_image_commands(mapping, field)


def configured_image_commands(environ: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """The mapping in effect: `$VTP_IMAGE_COMMANDS`, else the configuration's table, else {}."""
    from vtp import config

    return config.load(environ=environ).value("image_commands")
