"""How `gs://` URIs map onto local paths (where local state lives is `vtp.home`).

On Vertex, Cloud Storage is mounted under `/gcs/` (`gs://b/x` is `/gcs/b/x`). Locally the
twin mounts the same namespace under `$VTP_HOME/gcs/` and exports that root as
`VTP_GCS_ROOT`, so code written against `/gcs/` paths or `gs://` URIs runs unchanged.
"""

from __future__ import annotations

import os
import re
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


#: What a `gs://` URI must look like, as an error message's "allowed" part.
GCS_URI_RULE = "must be a gs://bucket/path URI without '.' or '..' path segments"
_BUCKET = re.compile(r"^[a-z0-9_][a-z0-9._-]*$")


def gcs_uri_problem(uri: str) -> str | None:
    """Why `uri` is not a usable `gs://` URI, None if it is.

    Cloud Storage object names may hold `.` and `..` segments, but every tool that maps them to
    files (Cloud Storage FUSE on Vertex, the local mount here) resolves them, so
    `gs://b/../../x` would name a file outside the bucket: refused on both targets.
    """
    if not is_gcs_uri(uri):
        return "is not a gs:// URI"
    rest = uri[len("gs://") :]
    bucket, _, path = rest.partition("/")
    if not bucket:
        return "has no bucket"
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        return f"has an invalid bucket name {bucket!r}"
    segments = path.split("/")
    if any(seg in (".", "..") for seg in segments):
        return "has a '.' or '..' path segment"
    if "\\" in path or "\x00" in path:
        return "holds a backslash or a NUL character"
    return None


def check_gcs_uri(field: str, uri: str) -> str:
    """`uri`, or a SpecError naming `field` when it is not a usable `gs://` URI."""
    from vtp.errors import SpecError

    problem = gcs_uri_problem(uri)
    if problem:
        raise SpecError(field, uri, f"{GCS_URI_RULE} (it {problem})")
    return uri


def gcs_to_mount(uri: str, root: str | os.PathLike) -> str:
    """`gs://bucket/a/b` -> `<root>/bucket/a/b` (the `/gcs/` convention).

    Raises:
        ValueError: `uri` is not a usable `gs://` URI, or would name a path outside `root`.
    """
    problem = gcs_uri_problem(uri)
    if problem:
        raise ValueError(f"gs:// URI {uri!r} {problem} ({GCS_URI_RULE})")
    rest = uri[len("gs://") :]
    local = Path(root) / rest
    # Lexically inside the root (symbolic links someone placed under the root are followed,
    # as files they chose to share).
    resolved, base = os.path.normpath(local), os.path.normpath(root)
    if resolved != base and not resolved.startswith(base.rstrip("/") + "/"):
        raise ValueError(f"gs:// URI {uri!r} resolves outside the local storage root {root}")
    return str(local) + ("/" if uri.endswith("/") else "")


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
