"""`vtp compile`: pipelines and components to YAML, byte-identical on every run, with the
configured images stamped in.

KFP builds each pipeline spec; vtp then replaces the template images (`vtp-components:<v>`,
`vtp-trainer:<v>`, ..., see `vtp.defaults`) with the configured ones, wherever a value of the
spec is exactly one of them (executor images, parameter defaults, constants), and writes the
YAML the way `kfp.compiler.Compiler` does — its header comment, then the spec with sorted keys
— through libyaml's emitter when PyYAML has it (the pure-Python one takes most of the time of
a compile). The result is the same document; a test loads both and compares them.
"""

from __future__ import annotations

import ast
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtp import catalog
from vtp.config import Images


@dataclass(frozen=True)
class Drift:
    """Differences between `compiled/` and what the source compiles to."""

    stale: list[str]
    missing: list[str]
    extra: list[str]

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def compile_all(
    out_dir: Path, component_image: str | None = None, images: Images | None = None
) -> list[Path]:
    """Compiles every pipeline and component under `out_dir`.

    Args:
        out_dir: Gets `pipelines/<name>.yaml` and `components/<name>.yaml`.
        component_image: Shorthand for `Images(component=...)`.
        images: The images to stamp (default: the template's).
    """
    images = images or Images()
    if component_image:
        images = Images(component_image, images.trainers)
    replacements = images.replacements()
    items = [
        (out_dir / "pipelines" / f"{name}.yaml", catalog.pipeline_module(name).build())
        for name in sorted(catalog.PIPELINES)
    ]
    items += [
        (out_dir / "components" / f"{name}.yaml", catalog.component(name))
        for name in sorted(catalog.COMPONENTS)
    ]
    written = []
    for path, component in items:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_yaml(component, replacements))
        written.append(path)
    return written


def to_yaml(component, replacements: Mapping[str, str] | None = None) -> str:
    """The compiled YAML of a pipeline or component, as `kfp.compiler.Compiler` writes it, with
    every value equal to a key of `replacements` replaced."""
    import yaml
    from google.protobuf import json_format
    from kfp.compiler import pipeline_spec_builder as builder
    from kfp.dsl.types import type_utils

    with type_utils.TypeCheckManager(enable=True):
        spec = json_format.MessageToDict(component.pipeline_spec)
    spec = _replace(spec, replacements or {})
    documents = [spec]
    if component.platform_spec.platforms:
        documents.append(json_format.MessageToDict(component.platform_spec))
    header = builder.extract_comments_from_pipeline_spec(spec, component.description)
    dumper = getattr(yaml, "CDumper", yaml.Dumper)
    return _stable_header(header + yaml.dump_all(documents, Dumper=dumper, sort_keys=True))


def _replace(value: Any, replacements: Mapping[str, str]) -> Any:
    if not replacements:
        return value
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, dict):
        return {k: _replace(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, replacements) for v in value]
    return value


_DICT_DEFAULT = re.compile(r"^(#\s+\w+: (?:dict|list) \[Default: )(.*)(\])$", re.MULTILINE)


def _stable_header(text: str) -> str:
    """KFP's header comment prints dict defaults (also inside lists) in protobuf map order,
    which changes from one process to the next; print them with sorted keys instead, so the
    YAML is byte-identical."""

    def ordered(match: re.Match) -> str:
        value = ast.literal_eval(match.group(2))
        return f"{match.group(1)}{_sorted_repr(value)}{match.group(3)}"

    return _DICT_DEFAULT.sub(ordered, text)


def _sorted_repr(value) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{k!r}: {_sorted_repr(value[k])}" for k in sorted(value))
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_sorted_repr(v) for v in value) + "]"
    return repr(value)


def check(out_dir: Path, component_image: str | None = None, images: Images | None = None) -> Drift:
    """Compiles into a scratch directory and compares it with `out_dir`, file by file."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh_root = Path(scratch)
        fresh = {
            p.relative_to(fresh_root)
            for p in compile_all(fresh_root, component_image, images=images)
        }
        existing = (
            {p.relative_to(out_dir) for p in out_dir.glob("*/*.yaml")}
            if out_dir.exists()
            else set()
        )
        stale = [
            str(out_dir / rel)
            for rel in sorted(fresh & existing)
            if (fresh_root / rel).read_bytes() != (out_dir / rel).read_bytes()
        ]
        return Drift(
            stale=stale,
            missing=[str(out_dir / rel) for rel in sorted(fresh - existing)],
            extra=[str(out_dir / rel) for rel in sorted(existing - fresh)],
        )
