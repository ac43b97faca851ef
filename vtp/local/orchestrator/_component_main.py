"""Runs one lightweight Python component: `python -m vtp.local.orchestrator._component_main
--component_module_path FILE --executor_input JSON --function_to_execute NAME`.

It is KFP's own `kfp.dsl.executor_main`, the program the compiled component's container runs,
with one change: Cloud Storage is mounted where vtp keeps it. KFP maps a `gs://b/x` artifact
URI to the path `/gcs/b/x` (the Cloud Storage FUSE mount of Vertex); here that prefix is the
local Cloud Storage root (`$VTP_GCS_ROOT`), so `artifact.path` opens the local file of the
artifact the URI names, and a path written back maps to the same `gs://` URI.

The zygote (`_zygote`) runs the same `run` in a forked child; a plain process runs `main`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

EXECUTOR_MODULE = "kfp.dsl.executor_main"


def mount_gcs(root: str | None) -> None:
    """Point KFP's `/gcs/` mount prefix at `root` (nothing to do without one)."""
    if not root:
        return
    from kfp.dsl.types import artifact_types

    artifact_types._GCS_LOCAL_MOUNT_PREFIX = root.rstrip("/") + "/"


def run(argv: list[str]) -> int:
    """Runs KFP's executor with `argv`; the exit code (1 and a traceback for an error)."""
    os.environ["_KFP_RUNTIME"] = "true"
    try:
        mount_gcs(os.environ.get("VTP_GCS_ROOT"))
        sys.argv = [EXECUTOR_MODULE, *argv]
        # what `python -m kfp.dsl.executor_main` runs; called, not re-run with runpy, since
        # the module is already imported (runpy would warn about that in every step's log)
        from kfp.dsl import executor_main

        executor_main.executor_main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def main() -> int:
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
