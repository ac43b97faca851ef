"""A documentation page's commands and outputs, to run and compare them in a test.

A page's ```console blocks hold `$ vtp ...` lines, each followed by the output the page shows;
lines holding `...` are trims. Outputs are compared by *form*: what differs from run to run
(ids, ports, times, durations, run names) is replaced by a placeholder on both sides.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

#: Parts of an output that differ from run to run, and the form they are compared by.
FORMS = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\b(training|tuning|distributed)-\d{8}-\d{6}-[0-9a-f]{6}\b"), r"\1-RUN"),
    (re.compile(r"\b(training|tuning|distributed)-\d[\d-]{16,}\d"), r"\1-RUN"),
    (re.compile(r"up to \d+ step"), "up to N step"),
    (re.compile(r"local-pipeline-root/[0-9a-f-]{36}/"), "local-pipeline-root/N/"),
    (re.compile(r"\b\d{15,20}\b"), "ID"),
    (re.compile(r"local-pipeline-root/\d+/"), "local-pipeline-root/N/"),
    (re.compile(r"tuning-job/\d+/"), "tuning-job/TRIAL/"),  # the best trial of a fresh seed
    (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2}Z)?"), "TIME"),
    (re.compile(r"\b\d+(?:\.\d+)? ?s\b"), "N s"),
    (re.compile(r"\s+"), " "),
]


def form(text: str) -> str:
    for pattern, replacement in FORMS:
        text = pattern.sub(replacement, text)
    return text.strip()


@dataclass
class Shown:
    """One `$ vtp ...` of the page and the output lines it shows."""

    argv: list[str]
    lines: list[str] = field(default_factory=list)

    @property
    def expects_error(self) -> bool:
        return any(line.startswith("vtp: error:") for line in self.lines)


def blocks(text: str, language: str) -> list[str]:
    """The bodies of the page's fenced blocks of `language`."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def shown_commands(text: str) -> list[Shown]:
    """The `$ vtp` commands of the page's console blocks, in order."""
    commands: list[Shown] = []
    for block in blocks(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                argv = shlex.split(line[2:])
                assert argv[0] == "vtp", f"console blocks run vtp only: {line}"
                commands.append(Shown(argv[1:]))
            elif commands:
                commands[-1].lines.append(line)
    return commands


def files(text: str) -> dict[str, str]:
    """Fenced blocks whose first line is `# PATH`: the files the page writes."""
    out = {}
    for body in re.findall(r"^```\w+\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        first = body.splitlines()[0] if body else ""
        if re.fullmatch(r"# [\w./-]+\.\w+", first):
            out[first[2:]] = body
    return out


def exports(text: str) -> dict[str, str]:
    """`export NAME=VALUE` lines of the page's bash blocks."""
    out = {}
    for block in blocks(text, "bash"):
        for line in block.splitlines():
            if line.startswith("export "):
                (assignment,) = shlex.split(line[len("export ") :])
                name, _, value = assignment.partition("=")
                out[name] = value
    return out


def missing_lines(shown: Shown, printed: str) -> list[str]:
    """The lines the page shows for `shown` that `printed` lacks (trims excepted)."""
    printed_forms = {form(line) for line in printed.splitlines()}
    return [
        line
        for line in shown.lines
        if line.strip() and "..." not in line and form(line) not in printed_forms
    ]
