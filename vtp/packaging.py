"""A local trainer as the Python package Vertex runs: built, staged, and its parameters.

`build_trainer(SOURCE)` makes a source distribution of

- a directory with `pyproject.toml` or `setup.py`: built as it is (`uv build --sdist`);
- a single script, or a directory without packaging: wrapped as the Vertex AI SDK's
  `CustomJob.from_local_script` wraps it (`aiplatform.utils.source_utils`): a package
  `aiplatform_custom_trainer_script` holding the script as `task.py` (or the directory's
  files), a `setup.py` whose `install_requires` are the requirements given (default: a
  `requirements.txt` beside the script or in the directory), run as
  `aiplatform_custom_trainer_script.task`.

`stage(...)` puts it under a `gs://` prefix, in a folder named by the hash of its content, so
the same sources always give the same URI (and the same cached local environment): in the
local Cloud Storage root (`<home>/gcs/...`) by default, or in real Cloud Storage through
google-cloud-storage.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vtp.errors import VtpError

SCRIPT_PACKAGE = "aiplatform_custom_trainer_script"  # the SDK's name for a wrapped script
SCRIPT_MODULE = "task"
SCRIPT_VERSION = "0.1"
REQUIREMENTS_FILE = "requirements.txt"
DEFAULT_STAGING_URI = "gs://vtp-staging/trainers"
_SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache", "tests"}
_SETUP_PY = """from setuptools import find_packages, setup

setup(
    name={name!r},
    version={version!r},
    packages=find_packages(),
    install_requires={requirements!r},
    include_package_data=True,
    description="Training application packaged by vtp (as Vertex AI's SDK packages a script).",
)
"""


class PackagingError(VtpError, ValueError):
    """A trainer source that cannot be packaged (bad input: exit code 2)."""


@dataclass(frozen=True)
class BuiltTrainer:
    """A built source distribution and the module Vertex runs from it."""

    sdist: Path
    python_module: str
    source: Path
    wrapped: bool
    requirements: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        return content_hash(self.sdist)


def content_hash(archive: Path) -> str:
    """A hash of an sdist's (or wheel's) source files: their names and bytes, not the
    archive's timestamps nor the metadata the build backend generates from them (`PKG-INFO`,
    `*.egg-info/`, `setup.cfg`, `*.dist-info/`), which varies with the backend's version. The
    same sources always hash the same."""
    digest = hashlib.sha256()

    def add(name: str, data: bytes) -> None:
        if name.rsplit("/", 1)[-1] == "setup.cfg":  # setuptools appends an [egg_info] section
            data = re.sub(rb"(?ms)^\[egg_info\].*?(?=^\[|\Z)", b"", data)
        digest.update(name.encode() + b"\0" + data + b"\0")

    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            for name in sorted(n for n in z.namelist() if not _generated(n)):
                add(name, z.read(name))
        return digest.hexdigest()
    with tarfile.open(archive) as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and not _generated(m.name)),
            key=lambda m: m.name,
        )
        for member in members:
            add(member.name, tar.extractfile(member).read())  # type: ignore[union-attr]
    return digest.hexdigest()


def _generated(name: str) -> bool:
    """Files a build backend writes into an archive from the sources (not the sources)."""
    parts = name.split("/")
    return parts[-1] in ("PKG-INFO", "RECORD", "WHEEL") or any(
        p.endswith((".egg-info", ".dist-info")) for p in parts[:-1]
    )


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments, blanks and options dropped)."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            out.append(line)
    return out


def build_trainer(
    source: str | os.PathLike,
    out_dir: Path,
    *,
    module: str = "",
    requirements: Sequence[str] | None = None,
) -> BuiltTrainer:
    """Build `source` (a directory or a script) into an sdist in `out_dir`.

    Raises:
        PackagingError: the source does not exist, its module cannot be told, or the build
            failed (its last lines shown).
    """
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise PackagingError(f"trainer source {str(source)!r} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)
    packaged = path.is_dir() and any((path / f).is_file() for f in ("pyproject.toml", "setup.py"))
    if packaged:
        if requirements:
            raise PackagingError(
                f"{path} is a package (pyproject.toml/setup.py): declare its requirements "
                "there, not with --requirement"
            )
        module = module or _find_task_module(path)
        return BuiltTrainer(_uv_build(path, out_dir), module, path, wrapped=False)
    if path.is_file() and path.suffix != ".py":
        raise PackagingError(f"trainer source {path} must be a directory or a .py script")
    reqs = list(requirements or [])
    beside = (path if path.is_dir() else path.parent) / REQUIREMENTS_FILE
    if requirements is None and beside.is_file():
        reqs = read_requirements(beside)
    with tempfile.TemporaryDirectory(prefix="vtp-package-") as tmp:
        root = Path(tmp) / "trainer"
        package = root / SCRIPT_PACKAGE
        if path.is_dir():
            shutil.copytree(path, package, ignore=shutil.ignore_patterns(*_SKIP_DIRS, "*.pyc"))
            task = module or SCRIPT_MODULE
            if not (package / f"{task.replace('.', '/')}.py").is_file():
                raise PackagingError(
                    f"{path} has no {task.replace('.', '/')}.py: name the script to run with "
                    "--module (e.g. --module train for train.py)"
                )
        else:
            package.mkdir(parents=True)
            shutil.copy2(path, package / f"{SCRIPT_MODULE}.py")
            task = SCRIPT_MODULE
        (package / "__init__.py").touch()
        (root / "setup.py").write_text(
            _SETUP_PY.format(name=SCRIPT_PACKAGE, version=SCRIPT_VERSION, requirements=reqs)
        )
        sdist = _uv_build(root, out_dir)
    return BuiltTrainer(
        sdist, f"{SCRIPT_PACKAGE}.{task}", path, wrapped=True, requirements=tuple(reqs)
    )


def _uv_build(project: Path, out_dir: Path) -> Path:
    from vtp.local.trainer_envs import uv_binary

    with tempfile.TemporaryDirectory(prefix="vtp-sdist-") as tmp:
        done = subprocess.run(
            [uv_binary(), "build", "--sdist", "--quiet", "--out-dir", tmp, str(project)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "UV_NO_PROGRESS": "1", "SOURCE_DATE_EPOCH": "315532800"},
        )
        built = sorted(Path(tmp).glob("*.tar.gz"))
        if done.returncode != 0 or len(built) != 1:
            tail = "\n".join(f"  | {line}" for line in done.stderr.strip().splitlines()[-15:])
            raise PackagingError(f"building a source distribution of {project} failed:\n{tail}")
        target = out_dir / built[0].name
        shutil.move(str(built[0]), target)
    return target


def _find_task_module(project: Path) -> str:
    """The one `task.py` of a packaged trainer, as a dotted module (`trainer.task`)."""
    roots = [project / "src"] if (project / "src").is_dir() else [project]
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
            here = Path(dirpath)
            if "task.py" in filenames and here != root and (here / "__init__.py").is_file():
                found.append(".".join((here.relative_to(root) / "task").parts))
    if len(found) != 1:
        listed = ", ".join(sorted(found)) or "none"
        raise PackagingError(
            f"cannot tell which module of {project} to run (task.py modules found: {listed}): "
            "name it with --module (e.g. --module trainer.task)"
        )
    return found[0]


@dataclass(frozen=True)
class Staged:
    """Where a package went: its `gs://` URI and, when staged locally, the local file."""

    uri: str
    local_path: Path | None


def staging_folder(staging_uri: str, built: BuiltTrainer) -> str:
    if not re.fullmatch(r"gs://[^/\s]+(/\S*)?", staging_uri):
        raise PackagingError(f"--staging-uri must be gs://BUCKET[/PREFIX], got {staging_uri!r}")
    return f"{staging_uri.rstrip('/')}/{built.content_hash[:16]}"


def stage_local(built: BuiltTrainer, staging_uri: str, gcs_root: Path) -> Staged:
    """Copy the sdist into the local Cloud Storage root under `staging_uri`."""
    from vtp.gcs import gcs_to_mount

    uri = f"{staging_folder(staging_uri, built)}/{built.sdist.name}"
    target = Path(gcs_to_mount(uri, gcs_root))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or content_hash(target) != built.content_hash:
        shutil.copyfile(built.sdist, target)
    return Staged(uri, target)


def stage_gcs(built: BuiltTrainer, staging_uri: str, client=None) -> Staged:
    """Upload the sdist to Cloud Storage (google-cloud-storage; `STORAGE_EMULATOR_HOST` is
    honoured by the client)."""
    from google.cloud import storage

    uri = f"{staging_folder(staging_uri, built)}/{built.sdist.name}"
    bucket_name, _, blob_name = uri[len("gs://") :].partition("/")
    client = client or storage.Client()
    blob = client.bucket(bucket_name).blob(blob_name)
    with open(built.sdist, "rb") as f:
        blob.upload_from_file(io.BufferedReader(f), content_type="application/gzip")
    return Staged(uri, None)
