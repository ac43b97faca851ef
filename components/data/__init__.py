"""Dataset components: load a source and split it into train, validation and test.

The component is imported on first use (PEP 562), so that a component process importing
`vtp.components.data.splitting` does not import kfp for it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_dataset"]


def __getattr__(name: str) -> Any:
    if name == "load_dataset":
        from vtp.components.data.load_dataset import load_dataset

        globals()["load_dataset"] = load_dataset  # not the submodule of the same name
        return load_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
