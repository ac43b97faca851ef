"""`vtp compile`: pipelines and components to YAML, byte-identical on every run."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from components import config
from pipelines import catalog


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

    from components.targets import VERTEX

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
    if component_image and component_image != config.COMPONENT_IMAGE:
        for path in written:
            _swap_image(path, config.COMPONENT_IMAGE, component_image)
    return written


def _swap_image(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    path.write_text(text.replace(f"image: {old}\n", f"image: {new}\n"))


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
