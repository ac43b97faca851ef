"""What `vtp check` found: problems, warnings and values left to run time, per file."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vtp.check.ir import Task, Value, resolve
from vtp.errors import SpecError, VtpError

PROBLEM, WARNING, RUNTIME = "problem", "warning", "runtime"

_FIELD_HEAD = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Finding:
    """One line of the report: `level` is PROBLEM, WARNING or RUNTIME (shown with -v)."""

    level: str
    where: str
    text: str

    def line(self, file: str) -> str:
        mark = {PROBLEM: "", WARNING: "warning: ", RUNTIME: "note: "}[self.level]
        where = f"{self.where}: " if self.where else ""
        return f"{file}: {mark}{where}{self.text}"


@dataclass
class FileReport:
    """The findings of one file and what was looked at."""

    file: str
    tasks: int = 0
    payloads: int = 0
    findings: list[Finding] = field(default_factory=list)

    def count(self, level: str) -> int:
        return sum(1 for f in self.findings if f.level == level)


@dataclass
class Report:
    """Every file's report; `problems` decides the exit code."""

    files: list[FileReport] = field(default_factory=list)
    #: Lines about the whole run, printed before the summary.
    notes: list[str] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    def count(self, level: str) -> int:
        return sum(f.count(level) for f in self.files)

    @property
    def problems(self) -> int:
        return self.count(PROBLEM)

    def lines(self, verbose: bool = False) -> list[str]:
        """The findings (run-time notes only when `verbose`) and the summary line."""
        out: list[str] = []
        for report in self.files:
            for finding in report.findings:
                if finding.level != RUNTIME or verbose:
                    out.append(finding.line(report.file))
            if verbose:
                out.append(
                    f"{report.file}: {_n(report.tasks, 'task')}, "
                    f"{_n(report.payloads, 'payload')} checked, "
                    f"{_n(report.count(PROBLEM), 'problem')}, "
                    f"{_n(report.count(WARNING), 'warning')}"
                )
        out += self.notes
        out.append(self.summary(verbose))
        return out

    def summary(self, verbose: bool = False) -> str:
        runtime = self.count(RUNTIME)
        text = (
            f"vtp check: {_n(len(self.files), 'file')}, {_n(self.total('tasks'), 'task')}, "
            f"{_n(self.total('payloads'), 'payload')} checked: "
            f"{_n(self.problems, 'problem')}, {_n(self.count(WARNING), 'warning')}"
        )
        if runtime:
            more = "" if verbose else "; -v lists them"
            text += f" ({_n(runtime, 'value')} checked at run time{more})"
        return text


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class TaskCheck:
    """Checks one task's payload: resolves its inputs, turns refusals into findings.

    `known(name)` gives an input's value if the YAML fixes it, else notes that it is checked
    at run time and gives None; `attempt(fn, ...)` runs a validator and records a `SpecError`
    (or another `VtpError`) as a problem, naming the pipeline default it came from, if any.
    """

    def __init__(self, task: Task, findings: list[Finding]):
        self.task = task
        self.findings = findings
        self.values: dict[str, Value] = {}
        self.checked = False

    def value(self, name: str) -> Value:
        if name not in self.values:
            self.values[name] = resolve(self.task, name)
        return self.values[name]

    def known(self, name: str) -> Any | None:
        """The value of input `name`, or None (noted as a run-time value) if not fixed."""
        value = self.value(name)
        if value.known:
            return value.value
        if value.origin != "not set":
            self.note(f"{name} comes from {value.origin}")
        return None

    def note(self, text: str) -> None:
        self.findings.append(
            Finding(RUNTIME, self.task.label, f"{text}: checked at run time by {self.consumer}")
        )

    @property
    def consumer(self) -> str:
        return self.task.short_component

    def problem(self, text: str) -> None:
        self.findings.append(Finding(PROBLEM, self.task.label, text))

    def warning(self, text: str) -> None:
        self.findings.append(Finding(WARNING, self.task.label, text))

    def attempt(
        self, fn: Callable[..., Any], *args: Any, rename: Callable[[str], str] | None = None
    ) -> tuple[bool, Any]:
        """`(True, fn(*args))`, or `(False, None)` with the refusal recorded as a problem."""
        self.checked = True
        try:
            return True, fn(*args)
        except SpecError as err:
            field_name = rename(err.field) if rename else err.field
            self.problem(
                str(SpecError(field_name, err.value, err.allowed)) + self._from(field_name)
            )
        except VtpError as err:
            self.problem(str(err) + self._from(str(err)))
        except (TypeError, ValueError, AttributeError) as err:  # a value of the wrong shape
            self.problem(f"refused by the payload builder: {err}")
        return False, None

    def _from(self, field_name: str) -> str:
        """` (default of pipeline parameter 'x')` when the refused field came from a default."""
        head = _FIELD_HEAD.match(field_name.removeprefix("scheduling."))
        value = self.values.get(head[0]) if head else None
        return f" ({value.origin})" if value is not None and value.origin else ""


def known_values(check: TaskCheck, names: Iterable[str]) -> dict[str, Any]:
    """The inputs among `names` whose values are fixed (the others are noted as run time)."""
    out = {}
    for name in names:
        value = check.known(name)
        if value is not None:
            out[name] = value
    return out
