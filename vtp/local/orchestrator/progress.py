"""The run's progress lines, as they are printed.

One line per change, so a CI log keeps every step of the way. On a terminal (and when step
logs are not streamed to it, `-v`), a step's progress line (`trials done 3 of 8 ...`) replaces
that step's previous progress line when nothing was printed in between.
"""

from __future__ import annotations

import contextlib
from typing import TextIO

#: Cursor one line up, then the whole line cleared.
_REPLACE = "\033[1A\033[2K"


class ProgressOut:
    """Prints progress lines to `stream`; `in_place` allows replacing a step's last one."""

    def __init__(self, stream: TextIO | None, in_place: bool | None = None):
        self.stream = stream
        if in_place is None:
            in_place = bool(stream is not None and _isatty(stream))
        self.in_place = in_place
        self._last_progress_of = ""

    def say(self, line: str, progress_of: str = "") -> None:
        """Prints `line`; `progress_of` names the task when it is that task's progress."""
        if self.stream is None or not line:
            return
        replace = self.in_place and progress_of and progress_of == self._last_progress_of
        with contextlib.suppress(OSError, ValueError):
            self.stream.write((_REPLACE if replace else "") + line + "\n")
            self.stream.flush()
        self._last_progress_of = progress_of


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
