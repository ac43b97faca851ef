"""The one home of local state: every path vtp keeps on this machine, under one root.

The root is `--home DIR`, else `$VTP_HOME`, else `./.vtp`. Under it:

| path | holds |
| --- | --- |
| `gcs/` | the local stand-in for Cloud Storage (`gs://bucket/x` is `gcs/bucket/x`) |
| `gcs/local-pipeline-root/` | the local pipeline root |
| `registry.db` | the local model registry (SQLite) |
| `jobs/`, `runs/`, `tuning/` | local custom jobs, pipeline runs, tuning studies |
| `cache/` | the step cache |

How `gs://` URIs map onto `gcs/` (and onto `/gcs/` on Vertex) is `vtp.gcs`'s job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vtp.errors import VtpError
from vtp.gcs import GCS_ROOT_ENV

HOME_ENV = "VTP_HOME"
DEFAULT_HOME = ".vtp"

#: The local pipeline root sits inside the local Cloud Storage mount, so every artifact
#: has the `gs://` URI it would have on Vertex: `gs://local-pipeline-root/...`.
PIPELINE_ROOT_BUCKET = "local-pipeline-root"


def vtp_home(override: str | os.PathLike | None = None) -> Path:
    """The root of all local state: `override`, else `$VTP_HOME`, else `./.vtp`."""
    raw = override or os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def registry_db(home: Path | None = None) -> Path:
    """Path of the local model registry database."""
    return (home or vtp_home()) / "registry.db"


def local_gcs_root(home: Path | None = None) -> Path:
    """The directory that stands in for Cloud Storage in local runs."""
    return (home or vtp_home()) / "gcs"


class HomeError(VtpError, OSError):
    """A vtp home that cannot be used (bad input: exit code 2)."""

    def __init__(self, root: Path, err: OSError):
        reason = err.strerror or str(err)
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(root) else ""
        super().__init__(
            f"vtp home {str(root)!r} is not usable: {reason}{where}; use --home DIR or "
            "VTP_HOME with a writable directory"
        )


def local_run_home() -> Path | None:
    """The vtp home of the local run this process is a step of, None elsewhere (on Vertex).

    vtp's local orchestrator exports `$VTP_HOME` and `$VTP_GCS_ROOT` to every step; a
    component that reads a Vertex service (the Model Registry, a tuning job's trials) reads
    the local twin's state instead when they are set.
    """
    home, root = os.environ.get(HOME_ENV), os.environ.get(GCS_ROOT_ENV)
    return Path(home) if home and root else None


@dataclass(frozen=True)
class LocalHome:
    """One resolved home and the paths under it."""

    root: Path

    @classmethod
    def resolve(cls, override: str | os.PathLike | None = None) -> LocalHome:
        return cls(vtp_home(override))

    @property
    def gcs_root(self) -> Path:
        return local_gcs_root(self.root)

    @property
    def pipeline_root(self) -> Path:
        return self.gcs_root / PIPELINE_ROOT_BUCKET

    @property
    def registry_db(self) -> Path:
        return registry_db(self.root)

    @property
    def cache_root(self) -> Path:
        return self.root / "cache"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def create(self) -> LocalHome:
        """Makes the home's directories.

        Raises:
            HomeError: the home cannot hold them (a file in the way, no permission, a
                read-only file system).
        """
        try:
            for d in (self.pipeline_root, self.cache_root, self.runs, self.jobs):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise HomeError(self.root, err) from None
        return self

    def check_usable(self) -> LocalHome:
        """Creates the home and proves it writable (a probe file written and removed).

        Raises:
            HomeError: in one line, naming the home and the reason.
        """
        self.create()
        probe = self.root / f".vtp-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise HomeError(self.root, err) from None
        return self

    def export(self) -> None:
        """Makes this home the one every component subprocess sees."""
        os.environ[HOME_ENV] = str(self.root)
        os.environ[GCS_ROOT_ENV] = str(self.gcs_root)
