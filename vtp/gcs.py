"""How `gs://` URIs map onto local paths (where local state lives is `vtp.home`).

On Vertex, Cloud Storage is mounted under `/gcs/` (`gs://b/x` is `/gcs/b/x`). Locally the
twin mounts the same namespace under `$VTP_HOME/gcs/` and exports that root as
`VTP_GCS_ROOT`, so code written against `/gcs/` paths or `gs://` URIs runs unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

GCS_ROOT_ENV = "VTP_GCS_ROOT"
GCS_FUSE_ROOT = "/gcs"


def gcs_root() -> str | None:
    """The active Cloud Storage mount: `$VTP_GCS_ROOT` locally, `/gcs` on Vertex, else None."""
    root = os.environ.get(GCS_ROOT_ENV)
    if root:
        return root
    if os.path.isdir(GCS_FUSE_ROOT):
        return GCS_FUSE_ROOT
    return None


def is_gcs_uri(uri: str) -> bool:
    return uri.startswith("gs://")


def gcs_to_mount(uri: str, root: str | os.PathLike) -> str:
    """`gs://bucket/a/b` -> `<root>/bucket/a/b` (the `/gcs/` convention)."""
    if not is_gcs_uri(uri):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    rest = uri[len("gs://") :]
    if not rest or rest.startswith("/"):
        raise ValueError(f"gs:// URI has no bucket: {uri!r}")
    return str(Path(root) / rest) + ("/" if uri.endswith("/") else "")


def mount_to_gcs(path: str, root: str | os.PathLike) -> str | None:
    """Inverse of `gcs_to_mount`: a path under `root` -> `gs://...`, else None."""
    root_s = str(Path(root))
    p = str(path)
    if p == root_s or not p.startswith(root_s + "/"):
        return None
    return "gs://" + p[len(root_s) + 1 :]


def to_local_path(uri: str) -> str:
    """A path this process can open for `uri`.

    Local paths pass through; `gs://` URIs go through the active mount (`$VTP_GCS_ROOT`
    locally, `/gcs` on Vertex). Raises ValueError for a `gs://` URI when no mount exists.
    """
    if not is_gcs_uri(uri):
        return uri
    root = gcs_root()
    if root is None:
        raise ValueError(
            f"cannot open {uri!r}: no Cloud Storage mount here "
            f"(set {GCS_ROOT_ENV} or run where /gcs is mounted)"
        )
    return gcs_to_mount(uri, root)
