"""What the vtp wheel carries besides code, read with `importlib.resources`: the compiled
pipelines and components (`vtp.compiled`), the sample datasets (`vtp.sample_data`) and the
reference trainers' sources (`vtp._trainers`)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The sample dataset the pipelines default to.
SAMPLE_DATASET = "breast_cancer.csv"


def _directory(package: str) -> Path:
    # vtp is installed as files (a wheel or an editable install), never zipped: a Path.
    return Path(str(files(package)))


def compiled_dir() -> Path:
    """The compiled YAML shipped with vtp: `pipelines/*.yaml` and `components/*.yaml`."""
    return _directory("vtp.compiled")


def compiled_pipelines() -> Path:
    return compiled_dir() / "pipelines"


def sample_data_dir() -> Path:
    return _directory("vtp.sample_data")


def sample_dataset(name: str = SAMPLE_DATASET) -> Path:
    """A sample dataset shipped with vtp."""
    return sample_data_dir() / name


def trainers_root() -> Path:
    """The directory holding the reference trainer package `trainer/` (on `PYTHONPATH`, it runs
    as `python -m trainer.task`, as in its image)."""
    return _directory("vtp._trainers")


def source_checkout() -> Path | None:
    """The repository root when vtp runs from a source checkout (editable install), else None."""
    root = Path(str(files("vtp"))).parent
    return root if (root / "pyproject.toml").is_file() and (root / "trainers").is_dir() else None
