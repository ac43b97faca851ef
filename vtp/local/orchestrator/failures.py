"""The line that says why a step failed, found in the step's own output.

A failed step's output ends with what its program said last: a Python traceback's
`SomeError: message` line, a trainer's `trainer: error: ...` line, a KFP executor's logging.
`cause_line` picks the line a person wants to read first; vtp's own description of the
failure (exit code, replica, command) is the fallback.
"""

from __future__ import annotations

import re

#: `[workerpool0-0] `, `[trial 3] [workerpool0-0] `, `[local-job] `: the tags vtp puts on the
#: lines of the processes a step runs.
_TAG = re.compile(r"^(\[[^\]\s][^\]]*\] )+")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Failed|Failure)\b(:.*)?$")
_ERROR = re.compile(r"(^|\s|:)(error|ERROR|Error|FATAL|fatal|CRITICAL):")
#: Tags of the lines vtp writes itself around a failure (not the program's words).
_OURS = ("[local-job]", "[local-tuner]")


def untagged(line: str) -> str:
    """`line` without vtp's `[replica] ` tags."""
    return _TAG.sub("", line)


def _ours(line: str) -> bool:
    tags = _TAG.match(line)
    return bool(tags) and any(tag in tags.group(0) for tag in _OURS)


def cause_line(lines: list[str], error: str = "") -> str:
    """The program's own last exception line in `lines` (a step's output tail), else its last
    line that says `error:`, else the first line of `error` (vtp's description)."""
    own = [untagged(line).rstrip() for line in lines if line and not _ours(line)]
    for line in reversed(own):
        if line and not line[0].isspace() and _EXCEPTION.match(line):
            return line
    for line in reversed(own):
        if line and _ERROR.search(line) and not line.lstrip().startswith("|"):
            return line.strip()
    first = error.strip().splitlines()[:1]
    return first[0] if first else ""
