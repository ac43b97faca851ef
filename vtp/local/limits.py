"""How many processes a local run may start at once, derived from this machine.

Every replica of a local custom job, and every replica of every running tuning trial, is a
process with a pipe, a log file and two reader threads. On Vertex each is its own machine; here
they share this one, so a job asking for thousands of replicas (`worker_count=100000`) would
exhaust the open-file limit (EMFILE) or the memory long before it trained anything. The cap is
`PROCESSES_PER_CORE` per core, and never more than the open-file limit allows
(`FILES_PER_PROCESS` each).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROCESSES_PER_CORE = 4
FILES_PER_PROCESS = 16


@dataclass(frozen=True)
class ProcessCap:
    """The cap, and the machine facts it comes from."""

    limit: int
    cores: int
    open_files: int | None

    @property
    def why(self) -> str:
        files = f"; open-file limit {self.open_files}" if self.open_files else ""
        return (
            f"a local run starts one process per replica, and this machine allows at most "
            f"{self.limit} at once ({PROCESSES_PER_CORE} per core on {self.cores} core"
            f"{'s' if self.cores != 1 else ''}{files})"
        )


def process_cap() -> ProcessCap:
    """This machine's cap on the processes of one job (or of the running trials of a study)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    limit = PROCESSES_PER_CORE * max(1, cores)
    open_files = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            open_files = int(soft)
            limit = min(limit, max(1, open_files // FILES_PER_PROCESS))
    except (ImportError, OSError, ValueError):  # pragma: no cover - no resource module
        pass
    return ProcessCap(limit, max(1, cores), open_files)
