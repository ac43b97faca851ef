"""The layout of local state under one root (`./.vtp/`, `--home DIR` or `$VTP_HOME`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vtp import gcs as paths

#: The local pipeline root sits inside the local Cloud Storage mount, so every artifact
#: has the `gs://` URI it would have on Vertex: `gs://local-pipeline-root/...`.
PIPELINE_ROOT_BUCKET = "local-pipeline-root"


@dataclass(frozen=True)
class LocalHome:
    root: Path

    @classmethod
    def resolve(cls, override: str | os.PathLike | None = None) -> LocalHome:
        return cls(paths.vtp_home(override))

    @property
    def gcs_root(self) -> Path:
        return paths.local_gcs_root(self.root)

    @property
    def pipeline_root(self) -> Path:
        return self.gcs_root / PIPELINE_ROOT_BUCKET

    @property
    def registry_db(self) -> Path:
        return paths.registry_db(self.root)

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
        for d in (self.pipeline_root, self.cache_root, self.runs, self.jobs):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def export(self) -> None:
        """Makes this home the one every component subprocess sees."""
        os.environ[paths.HOME_ENV] = str(self.root)
        os.environ[paths.GCS_ROOT_ENV] = str(self.gcs_root)
