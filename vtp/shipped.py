"""What the vtp wheel carries besides code, read with `importlib.resources`: the compiled
pipelines and components (`vtp.compiled`), the sample datasets (`vtp.sample_data`) and the
reference trainers' sources (`vtp._trainers`).

A sample dataset is named `sample://NAME` (`sample://breast_cancer.csv`, the pipelines'
default `data_source`): `load_dataset` reads it from the installed vtp package, wherever that
runs — this machine, or vtp's component image on Vertex, which holds the same package. It
names the same bytes from a checkout, from the wheel and in the image, whatever the working
directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The sample dataset the pipelines default to.
SAMPLE_DATASET = "breast_cancer.csv"
SAMPLE_SCHEME = "sample://"
#: The pipelines' default `data_source`.
SAMPLE_DATA_SOURCE = f"{SAMPLE_SCHEME}{SAMPLE_DATASET}"


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


def sample_datasets() -> list[str]:
    """The names of the shipped sample datasets."""
    return sorted(p.name for p in sample_data_dir().iterdir() if p.suffix in (".csv", ".parquet"))


def is_sample_uri(uri: str) -> bool:
    return uri.startswith(SAMPLE_SCHEME)


def sample_path(uri: str) -> str:
    """The local path of `sample://NAME` (NAME may hold a wildcard), inside the sample data
    directory: no `..` or absolute part may leave it.

    Raises:
        ValueError: naming the URI and the shipped samples.
    """
    name = uri[len(SAMPLE_SCHEME) :]
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts:
        raise ValueError(
            f"sample URI {uri!r} must be {SAMPLE_SCHEME}NAME, NAME one of: "
            f"{', '.join(sample_datasets())}"
        )
    return str(sample_data_dir() / name)


def trainers_root() -> Path:
    """The directory holding the reference trainer package `trainer/` (on `PYTHONPATH`, it runs
    as `python -m trainer.task`, as in its image)."""
    return _directory("vtp._trainers")


def source_checkout() -> Path | None:
    """The repository root when vtp runs from a source checkout (editable install), else None."""
    root = Path(str(files("vtp"))).parent
    return root if (root / "pyproject.toml").is_file() and (root / "trainers").is_dir() else None
