"""Files of a vtp home, read safely: a path is used only when it resolves (symlinks followed)
inside the home's root; log tails are read from the end."""

from __future__ import annotations

import os
from pathlib import Path

from vtp.errors import VtpError


class OutsideHome(VtpError):
    """A path that is not inside the vtp home (or does not exist there)."""


def inside(root: Path, path: str | os.PathLike) -> Path:
    """`path` resolved (absolute, or relative to `root`), when it lies under `root`.

    Raises:
        OutsideHome: it resolves outside `root` (`..`, a symlink leading out, another root).
    """
    base = root.resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = base / candidate
    resolved = candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise OutsideHome(f"{str(path)!r} is not inside the vtp home {str(base)!r}")
    return resolved


def tail(path: Path, lines: int = 40, max_bytes: int = 256 * 1024) -> list[str]:
    """The last `lines` lines of a text file (at most `max_bytes` read from its end); [] when
    the file cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    out = text.splitlines()
    if size > max_bytes and out:
        out = out[1:]  # the first line read may be cut
    return out[-lines:] if lines else out
