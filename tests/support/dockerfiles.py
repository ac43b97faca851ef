"""A small Dockerfile reader for the image tests."""

from pathlib import Path


def instructions(path: Path) -> list[tuple[str, str]]:
    """`(INSTRUCTION, arguments)` pairs, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        keyword, _, rest = (buf + line).partition(" ")
        out.append((keyword.upper(), rest.strip()))
        buf = ""
    return out
