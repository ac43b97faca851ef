"""A task's log: its own file, the run's log (each line prefixed with the task), an in-memory
tail for the failure summary and, with `-v`, the terminal.

Lines reach the terminal cut to `ECHO_CHARS` characters (the files keep them whole), so one
giant line cannot flood the terminal.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from pathlib import Path
from typing import TextIO

TAIL_LINES = 30
ECHO_CHARS = 2000


def clip(line: str, limit: int = ECHO_CHARS) -> str:
    if len(line) <= limit:
        return line
    return f"{line[:limit]}... [{len(line) - limit} more characters in the log]"


class RunLog:
    """The run's combined log, shared by every task (one writer at a time)."""

    def __init__(self, path: Path, echo: TextIO | None):
        self.path = path
        self.echo = echo
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self.failed: OSError | None = None

    def write(self, prefix: str, line: str) -> None:
        with self._lock:
            if self.failed is None:
                try:
                    self._file.write(f"{prefix}{line}\n")
                    self._file.flush()
                except OSError as err:
                    self.failed = err
            if self.echo is not None:
                with contextlib.suppress(OSError, ValueError):
                    self.echo.write(f"    {prefix}{clip(line)}\n")
                    self.echo.flush()

    def piece(self, prefix: str, text: str, first: bool, last: bool) -> None:
        with self._lock:
            if self.failed is None:
                try:
                    self._file.write((prefix if first else "") + text + ("\n" if last else ""))
                    self._file.flush()
                except OSError as err:
                    self.failed = err
            if self.echo is not None and first:
                more = "" if last else " ... [the line continues in the log]"
                with contextlib.suppress(OSError, ValueError):
                    self.echo.write(f"    {prefix}{clip(text)}{more}\n")
                    self.echo.flush()

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._file.close()


class TaskLog:
    """One task's log. Thread-safe: a task's processes and the orchestrator write to it."""

    def __init__(self, path: Path, task: str, run_log: RunLog):
        self.path = path
        self.task = task
        self._run_log = run_log
        self._lock = threading.Lock()
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def __call__(self, line: str) -> None:
        self.write(line)

    def piece(self, text: str, first: bool, last: bool) -> None:
        """A piece of a process's output line (see `read_pieces`): the files get every piece,
        the tail and the terminal a line's first piece only."""
        with self._lock:
            if first:
                self._tail.append(clip(text))
            with contextlib.suppress(OSError, ValueError):
                self._file.write(text + ("\n" if last else ""))
                self._file.flush()
        self._run_log.piece(f"[{self.task}] ", text, first, last)

    def write(self, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            with self._lock:
                self._tail.append(line)
                with contextlib.suppress(OSError, ValueError):
                    self._file.write(line + "\n")
                    self._file.flush()
            self._run_log.write(f"[{self.task}] ", line)

    def tail(self) -> list[str]:
        with self._lock:
            return list(self._tail)

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._file.close()


def pump(stream, sink) -> threading.Thread:
    """Starts a thread copying a binary stream into `sink` (a `TaskLog`) in bounded pieces."""
    from vtp.local.replica_process import read_pieces

    def run() -> None:
        with contextlib.suppress(OSError, ValueError), stream:
            for text, first, last in read_pieces(stream):
                sink.piece(text, first, last)

    thread = threading.Thread(target=run, name="vtp-log", daemon=True)
    thread.start()
    return thread
