"""`vtp list [PIPELINE]`: the pipelines, or one pipeline's parameters with what each means.

A parameter's description is the one in the compiled YAML (`root.inputDefinitions`), where
KFP puts the pipeline docstring's `Args:` entry: what a user reads here is what Vertex's
console shows for the same pipeline.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Widest line the descriptions are wrapped to, whatever the terminal's width.
MAX_WIDTH = 100
INDENT = " " * 6


def register(sub, home) -> None:
    """Adds `vtp list`."""
    ls = sub.add_parser("list", help="list pipelines and their parameters")
    ls.add_argument("pipeline", nargs="?", help="show one pipeline's parameters")
    ls.set_defaults(handler=run)


def run(args) -> int:
    from kfp import components

    from vtp import catalog, params
    from vtp.shipped import compiled_pipelines

    names = [args.pipeline] if args.pipeline else sorted(catalog.PIPELINES)
    for name in names:
        module = catalog.pipeline_module(name)
        print(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        if args.pipeline:
            path = compiled_pipelines() / f"{name}.yaml"
            compiled = components.load_component_from_file(str(path))
            described = descriptions(path)
            for pname, spec in params.declared_inputs(compiled).items():
                default = f" = {spec.default!r}" if spec.optional else "  (required)"
                print(f"  {pname}: {spec.type}{default}")
                text = described.get(pname, "")
                if text:
                    print(wrap(text, width()))
    return 0


def descriptions(path: Path) -> dict[str, str]:
    """Parameter name -> description, from a compiled pipeline's root input definitions."""
    import yaml

    with open(path, encoding="utf-8") as f:
        spec: Mapping[str, Any] = yaml.safe_load(f) or {}
    root = spec.get("root", {}).get("inputDefinitions", {})
    return {
        name: str(value.get("description") or "")
        for section in ("parameters", "artifacts")
        for name, value in (root.get(section) or {}).items()
    }


def width() -> int:
    return min(MAX_WIDTH, shutil.get_terminal_size((80, 24)).columns)


def wrap(text: str, columns: int) -> str:
    """`text` (one paragraph, or several separated by blank lines) wrapped to `columns`,
    indented under its parameter."""
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    return "\n".join(
        textwrap.fill(p, width=max(40, columns), initial_indent=INDENT, subsequent_indent=INDENT)
        for p in paragraphs
    )
