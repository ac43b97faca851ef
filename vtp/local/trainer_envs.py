"""Python package trainers, installed as Vertex installs them, in cached virtual environments.

On Vertex a `python_package_spec` pool pip-installs its `package_uris` (source distributions)
on the executor image and runs `python -m python_module`. Locally each distinct set of
packages gets its own virtual environment, `<home>/envs/<key>/`, keyed by a hash of the
package files and this Python's version: the packages and their declared dependencies are
installed there (with `uv`, from its cache when it has the wheels), so nothing of vtp's own
environment leaks in and nothing else shadows the trainer's modules. The environment is built
once, under a file lock (tuning trials running at once share it), and reused by every later
run of the same packages.

What the prebuilt executor image provides beyond Python (scikit-learn, TensorFlow...) is not
installed locally: a trainer that relies on it must declare it as a dependency (pinning the
image's version is good practice on Vertex too).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from vtp.errors import JobError

ENVS_DIR = "envs"
MARKER = "vtp-env.json"
INSTALL_TIMEOUT_S = 1800


@dataclass(frozen=True)
class TrainerEnv:
    """A ready environment: `python` runs the package's modules."""

    root: Path
    key: str
    packages: tuple[str, ...]
    built: bool  # False: found in the cache
    seconds: float

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"


def uv_binary() -> str:
    """The `uv` executable installed with vtp."""
    from uv import find_uv_bin

    return find_uv_bin()


def env_key(package_files: Sequence[Path]) -> str:
    """Hash of the packages (in order: their members' names and bytes, so a rebuild of the
    same sources gives the same key) and of this Python's version."""
    from vtp.packaging import content_hash

    digest = hashlib.sha256()
    digest.update(f"python {sys.version_info[0]}.{sys.version_info[1]}\n".encode())
    for path in package_files:
        try:
            member = content_hash(Path(path))
        except (OSError, ValueError, EOFError, tarfile.TarError, zipfile.BadZipFile):
            member = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        digest.update(member.encode() + b"\n")
    return digest.hexdigest()[:24]


def ensure_env(
    package_files: Sequence[Path],
    envs_root: Path,
    *,
    module: str = "",
    log: Callable[[str], None] = print,
) -> TrainerEnv:
    """The environment holding `package_files` (built now unless cached); with `module`,
    fails unless the module is importable there.

    Raises:
        JobError: a package file is missing, the install failed (pip's last lines shown), or
            `module` is not in the packages.
    """
    files = [Path(p).expanduser().resolve() for p in package_files]
    for path in files:
        if not path.is_file():
            raise JobError(f"python package {path} does not exist")
    envs_root = Path(envs_root).expanduser().resolve()
    envs_root.mkdir(parents=True, exist_ok=True)
    key = env_key(files)
    root = envs_root / key
    names = tuple(p.name for p in files)
    started = time.monotonic()
    built = False
    if not (root / MARKER).is_file():
        with _locked(envs_root / f".{key}.lock"):
            if not (root / MARKER).is_file():
                log(f"building the environment of {', '.join(names)} in {root}")
                _build(root, files)
                built = True
    env = TrainerEnv(root, key, names, built, round(time.monotonic() - started, 3))
    if module:
        check_module(env, module)
    return env


def _build(root: Path, files: Sequence[Path]) -> None:
    if root.exists():  # a build that was interrupted: start again
        shutil.rmtree(root)
    uv = uv_binary()
    steps = [
        [uv, "venv", "--quiet", "--python", sys.executable, str(root)],
        [uv, "pip", "install", "--python", str(root / "bin" / "python"), *map(str, files)],
    ]
    for step in steps:
        done = subprocess.run(
            step,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
            env={**os.environ, "UV_NO_PROGRESS": "1"},
        )
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            tail = "\n".join(f"  | {line}" for line in done.stderr.strip().splitlines()[-15:])
            raise JobError(
                f"cannot install the trainer package(s) {', '.join(p.name for p in files)}: "
                f"`{' '.join(step[:3])} ...` exited {done.returncode}:\n{tail}"
            )
    record = {"packages": [str(p) for p in files], "python": sys.version.split()[0]}
    (root / MARKER).write_text(json.dumps(record, indent=2) + "\n")


def check_module(env: TrainerEnv, module: str) -> None:
    """Fails unless `module` can be found by the environment's Python (run from an empty
    directory, so only installed modules count)."""
    probe = (
        "import importlib.util, sys\n"
        "try:\n    found = importlib.util.find_spec(sys.argv[1]) is not None\n"
        "except ImportError:\n    found = False\n"
        "sys.exit(0 if found else 3)\n"
    )
    with tempfile.TemporaryDirectory(prefix="vtp-probe-") as empty:
        done = subprocess.run(
            [str(env.python), "-c", probe, module],
            cwd=empty,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            capture_output=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise JobError(
            f"python_module {module!r} is not in the package(s) {', '.join(env.packages)} "
            f"(installed in {env.root}): name a module the package holds, e.g. trainer.task"
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
