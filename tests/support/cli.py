"""Running the `vtp` command as a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_vtp(*args: str, home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m vtp ARGS --home HOME`, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "vtp", *args, "--home", str(home)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
