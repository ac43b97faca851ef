"""`vtp compile`: pipelines and components to YAML, byte-identical on every run."""

from __future__ import annotations

import ast
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vtp import catalog
from vtp import defaults as config


@dataclass(frozen=True)
class Drift:
    """Differences between `compiled/` and what the source compiles to."""

    stale: list[str]
    missing: list[str]
    extra: list[str]

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def compile_all(out_dir: Path, component_image: str | None = None) -> list[Path]:
    """Compiles every pipeline (VERTEX target) and component under `out_dir`."""
    from kfp import compiler

    from vtp.components.targets import VERTEX

    written = []
    for name in sorted(catalog.PIPELINES):
        path = out_dir / "pipelines" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(catalog.pipeline_module(name).build(VERTEX), str(path))
        written.append(path)
    for name in sorted(catalog.COMPONENTS):
        path = out_dir / "components" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(catalog.component(name), str(path))
        written.append(path)
    for path in written:
        text = _stable_header(path.read_text())
        if component_image and component_image != config.COMPONENT_IMAGE:
            text = text.replace(f"image: {config.COMPONENT_IMAGE}\n", f"image: {component_image}\n")
        path.write_text(text)
    return written


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


def check(out_dir: Path, component_image: str | None = None) -> Drift:
    """Compiles into a scratch directory and compares it with `out_dir`, file by file."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh_root = Path(scratch)
        fresh = {p.relative_to(fresh_root) for p in compile_all(fresh_root, component_image)}
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
