"""Images Vertex can pull: the rule `vtp check`, `vtp submit`, `vtp schedule create` and
`vtp publish` apply to a compiled pipeline before anything leaves this machine.

vtp's own images — the component image its Python steps run in, and the reference trainer
images its pipelines default to — must name a registry host (Vertex cannot pull
`vtp-components:0.1.0`, a name no registry holds) and be the configured ones (`vtp config`:
`registry`, `component_image`, `trainer_images`), so a pipeline compiled before the images were
pushed, or for another registry, is caught here and not ten minutes into a run. Local runs need
no pullable image.

Images that are not vtp's (GCPC's launchers, your own trainer) are left alone: a registry-less
name such as `python:3.11` is a Docker Hub image Vertex can pull.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vtp import defaults
from vtp.cloud.images import REGISTRY_EXAMPLE
from vtp.config import Images
from vtp.errors import SpecError, VtpError
from vtp.image_refs import parse

#: Repository name -> key of vtp's images.
_KEYS = {repository: key for key, repository in defaults.IMAGE_REPOSITORIES.items()}


class UnpullableImage(VtpError):
    """A compiled pipeline that names a vtp image Vertex cannot pull or that is not the
    configured one (bad input: exit code 2, nothing sent)."""


@dataclass(frozen=True)
class ImageUse:
    """Where a pipeline names an image: `where` reads like `executor 'exec-load-dataset'`."""

    image: str
    where: str
    explicit: bool = False


def vtp_image_key(image: str) -> str | None:
    """`components`, `trainer`... when `image` is one of vtp's images (any registry, any tag)."""
    try:
        return _KEYS.get(parse(image).name)
    except SpecError:
        return None


def uses(spec: Mapping[str, Any], values: Mapping[str, Any] | None = None) -> Iterator[ImageUse]:
    """Every vtp image a compiled pipeline (or component) runs with: executor images, and
    parameter defaults (`values`, the run's own parameters, take their place)."""
    deployment = spec.get("deploymentSpec") or {}
    for label, executor in sorted((deployment.get("executors") or {}).items()):
        image = ((executor or {}).get("container") or {}).get("image")
        if isinstance(image, str) and vtp_image_key(image):
            yield ImageUse(image, f"executor {label!r}")
    parameters = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    values = values or {}
    for name, definition in sorted(parameters.items()):
        if name in values:
            value, explicit = values[name], True
        else:
            value, explicit = (definition or {}).get("defaultValue"), False
        if isinstance(value, str) and vtp_image_key(value):
            origin = "value" if explicit else "default"
            yield ImageUse(value, f"{origin} of pipeline parameter {name!r}", explicit)


def problems(
    spec: Mapping[str, Any], images: Images, values: Mapping[str, Any] | None = None
) -> list[str]:
    """What stops Vertex from pulling vtp's images in this pipeline: one message per image,
    naming where the pipeline uses it and the commands that fix it.

    Args:
        spec: The compiled pipeline (or component) YAML, parsed.
        images: The configured images.
        values: The run's parameters; a value given here is the user's choice, so only the
            registry rule applies to it, not "the configured one".
    """
    found: dict[tuple[str, str], list[str]] = {}
    for use in uses(spec, values):
        key = vtp_image_key(use.image)
        configured = images.component if key == "components" else images.trainer(key)
        if not parse(use.image).host:
            found.setdefault((use.image, "host"), []).append(use.where)
        elif not use.explicit and use.image != configured:
            found.setdefault((use.image, configured), []).append(use.where)
    out = []
    for (image, rule), places in found.items():
        key = vtp_image_key(image)
        where = places[0] if len(places) == 1 else f"{places[0]} and {len(places) - 1} more"
        if rule == "host":
            out.append(
                f"image {image!r} ({where}) has no registry host, so Vertex cannot pull it: "
                f"build and push vtp's images (`vtp image push {key} --registry "
                f"{REGISTRY_EXAMPLE}`), set `registry` in the configuration (`vtp config`) and "
                "recompile (`vtp compile`)"
            )
        else:
            out.append(
                f"image {image!r} ({where}) is not the configured {key} image {rule!r} "
                f"(`vtp config`): recompile (`vtp compile`), or push that image "
                f"(`vtp image push {key}`)"
            )
    return out


def refuse_unpullable(
    spec: Mapping[str, Any], images: Images, source: str, values: Mapping[str, Any] | None = None
) -> None:
    """Raises UnpullableImage listing every problem of `problems`, prefixed with `source`."""
    found = problems(spec, images, values)
    if found:
        lines = "\n  ".join(found)
        raise UnpullableImage(
            f"{source}: Vertex could not run this pipeline as compiled:\n  {lines}\n"
            "(local runs, `vtp run --local`, need no pullable image)"
        )
