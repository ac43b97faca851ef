"""The wheel: its size, and the time a fresh virtual environment takes to install it.

Builds the wheel from a copy of the source tree (`python -m build --wheel`), then, `--repeat`
times, creates a new virtual environment in a temporary directory and `pip install`s the
wheel there: its dependencies are resolved as for any user (from pip's configured index; pip's
HTTP cache is warm after the first round, which is what the median reports). The venv
creation is timed apart from the install.

    python benchmarks/bench_wheel.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "vtp", "components", "pipelines", "compiled", "data")
SOURCES += ("trainers",)


def build(work: Path) -> Path:
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, source / name)
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("vtp-*.whl")
    return wheel


def install_once(wheel: Path, work: Path) -> tuple[float, float]:
    """(seconds to create the venv, seconds to pip install the wheel)."""
    venv = work / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    created = time.perf_counter()
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
    )
    return created - started, time.perf_counter() - created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vtp-wheel-") as scratch:
        work = Path(scratch)
        wheel = build(work)
        members = len(zipfile.ZipFile(wheel).namelist())
        rounds = [install_once(wheel, work) for _ in range(args.repeat)]
        venv_s = statistics.median(r[0] for r in rounds)
        install_s = statistics.median(r[1] for r in rounds)
        print(f"wheel    {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB, {members} files")
        print(f"venv     {venv_s:.1f} s (python -m venv, median of {args.repeat})")
        print(f"install  {install_s:.1f} s (pip install of the wheel and its dependencies)")
        print(f"rounds   {', '.join(f'{r[1]:.1f}' for r in rounds)} s")


if __name__ == "__main__":
    main()
