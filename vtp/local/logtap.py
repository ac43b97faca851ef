"""Turns kfp.local's console output into a run log and per-step progress events."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_START = re.compile(r"Executing task '([^']+)'")
_END = re.compile(r"Task '([^']+)' finished with status (\w+)")
_SKIP = re.compile(r"Skipping conditional task (\S+)")
_TRIAL = re.compile(r"\btrial (\d+) (SUCCEEDED|INFEASIBLE|FAILED|STOPPED|STOPPING)\b(.*)$")
_UNRESOLVED = re.compile(r"(Could not resolve [^:]+: \S+|Condition evaluation failed.*)")


@dataclass
class StepEvent:
    kind: str  # "start" | "end" | "skip" | "trial" | "unresolved"
    task: str
    status: str = ""
    seconds: float = 0.0


@dataclass
class LogTap(io.TextIOBase):
    """A write-only text stream: every line goes to `log`; recognised lines become events."""

    log: TextIO
    on_event: Callable[[StepEvent], None]
    echo: TextIO | None = None
    _buffer: str = ""
    _started: dict[str, float] = field(default_factory=dict)
    events: list[StepEvent] = field(default_factory=list)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._line(line)
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        if self.echo:
            self.echo.flush()

    def close_tap(self) -> None:
        if self._buffer:
            self._line(self._buffer)
            self._buffer = ""
        self.flush()

    def _line(self, raw: str) -> None:
        line = _ANSI.sub("", raw)
        self.log.write(line + "\n")
        if self.echo:
            self.echo.write(line + "\n")
        event = None
        if m := _START.search(line):
            self._started[m.group(1)] = time.monotonic()
            event = StepEvent("start", m.group(1))
        elif m := _END.search(line):
            began = self._started.get(m.group(1), time.monotonic())
            event = StepEvent("end", m.group(1), m.group(2), time.monotonic() - began)
        elif m := _SKIP.search(line):
            event = StepEvent("skip", m.group(1))
        elif m := _TRIAL.search(line):
            event = StepEvent("trial", m.group(1), m.group(2) + m.group(3))
        elif m := _UNRESOLVED.search(line):
            event = StepEvent("unresolved", "", m.group(1))
        if event:
            self.events.append(event)
            self.on_event(event)
