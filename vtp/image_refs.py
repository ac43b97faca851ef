"""Container image references (`[HOST[:PORT]/]PATH[:TAG][@DIGEST]`), read as Docker reads them.

The first path component is a registry host when it holds a `.` or a `:` or is `localhost`;
without one, Docker (and Vertex) would look on Docker Hub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vtp.errors import SpecError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:(?P<host>[A-Za-z0-9.-]+(?::[0-9]+)?)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+:[0-9a-f]{32,}))?$"
)
RULE = (
    "must be an image reference [HOST[:PORT]/]PATH[:TAG][@DIGEST], e.g. "
    "us-central1-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG"
)


@dataclass(frozen=True)
class ImageRef:
    """One parsed reference; `host` is '' when it names none."""

    host: str
    path: str
    tag: str
    digest: str

    @property
    def name(self) -> str:
        """The last path component: `vtp-trainer` of `host/p/r/vtp-trainer:1`."""
        return self.path.rsplit("/", 1)[-1]


def parse(uri: str, field: str = "image") -> ImageRef:
    """Parses `uri`; a SpecError naming `field` when it is not an image reference."""
    if not isinstance(uri, str):
        raise SpecError(field, uri, RULE)
    match = _REFERENCE.match(uri.strip())
    if not match or not uri.strip():
        raise SpecError(field, uri, RULE)
    host, path = match["host"] or "", match["path"]
    if host and not ("." in host or ":" in host or host == "localhost"):
        host, path = "", f"{host}/{path}"  # `team/image`: a Docker Hub path, not a host
        if not re.fullmatch(rf"{_COMPONENT}(?:/{_COMPONENT})*", path):
            raise SpecError(field, uri, RULE)
    return ImageRef(host, path, match["tag"] or "", match["digest"] or "")


def registry_host(uri: str) -> str:
    """The registry host `uri` names, '' for none (or for a string that is no reference)."""
    try:
        return parse(uri).host
    except SpecError:
        return ""
