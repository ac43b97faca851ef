"""The reaper: stops the process groups of a vtp process that died without stopping them.

    python -m vtp.local._reaper

vtp starts it (in its own session, so a signal to vtp's process group does not reach it) and
writes to its stdin `+PGID` for every process group it starts (a step, a replica, a trial) and
`-PGID` when the group is gone. Every direct child of vtp also dies with vtp
(PR_SET_PDEATHSIG), but what those children started would outlive them; when vtp ends in any
way, even SIGKILL, the reaper reads end-of-file and sends SIGTERM to every group still
listed, then SIGKILL after `GRACE_S` seconds, and exits. Standard library only: it starts in
a few milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

GRACE_S = 2.0


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_all(groups: set[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin:
        line = line.strip()
        if len(line) < 2 or not line[1:].isdigit():
            continue
        pgid = int(line[1:])
        if line[0] == "+":
            groups.add(pgid)
        elif line[0] == "-":
            groups.discard(pgid)
    live = {g for g in groups if _alive(g)}
    if not live:
        return 0
    _signal_all(live, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = {g for g in live if _alive(g)}
    _signal_all(live, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
