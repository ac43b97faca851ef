"""Publishing compiled pipelines to a KFP template registry (Artifact Registry), and listing it.

A published pipeline is a package (its `pipelineInfo.name`) whose versions are the sha256 of
the YAML bytes; tags name versions. `publish` uploads each YAML with the tags that are new to
its package and moves the ones that already name another version with `update_tag` (a
`create_tag` on an existing tag is a 409 conflict).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vtp.cloud.templates import (
    COMPILED_PIPELINES,
    PACKAGE_NAME,
    RegistryRequestError,
    TemplateNotFound,
    check_tag,
    http_status,
    local_template_path,
    read_pipeline_info,
    read_spec,
    registry_client,
    registry_errors,
    template_url,
)
from vtp.errors import SpecError, VtpError

if TYPE_CHECKING:
    from vtp.config import Images

LATEST = "latest"


@dataclass(frozen=True)
class Upload:
    """One compiled pipeline to publish, checked before any request."""

    path: Path
    package: str
    description: str


@dataclass(frozen=True)
class TagChange:
    """What publishing did to one tag: `previous` is the version it named before, if any."""

    tag: str
    previous: str | None
    version: str

    @property
    def state(self) -> str:
        if self.previous is None:
            return "new"
        return "unchanged" if self.previous == self.version else "moved"


@dataclass(frozen=True)
class Published:
    source: Path
    host: str
    package: str
    version: str
    tags: tuple[TagChange, ...]

    @property
    def urls(self) -> list[str]:
        """Template URLs for `vtp submit` / `vtp schedule`: one per tag, then the version."""
        refs = [t.tag for t in self.tags] + [self.version]
        return [template_url(self.host, self.package, ref) for ref in refs]


@dataclass(frozen=True)
class VersionEntry:
    version: str
    created: str
    description: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class PackageEntry:
    package: str
    versions: tuple[VersionEntry, ...]


def package_version() -> str:
    """The installed vtp version: every upload is tagged with it."""
    from vtp import UNKNOWN_VERSION, __version__

    if __version__ == UNKNOWN_VERSION:
        raise VtpError("vtp is not installed (`make install`): no version to tag with")
    return __version__


def publish_tags(extra: Sequence[str] = ()) -> list[str]:
    """The package version, `latest` and `extra`, each checked, without repeats."""
    tags = [check_tag(package_version(), "package version (tag)"), LATEST]
    tags += [check_tag(tag) for tag in extra]
    return list(dict.fromkeys(tags))


def prepare(
    refs: Sequence[str] = (),
    description: str | None = None,
    *,
    images: Images | None = None,
    compiled: str | Path | None = None,
) -> list[Upload]:
    """The compiled pipelines to publish: `refs` (names or YAML files) or all of
    `<compiled>/pipelines/` (else vtp's shipped templates), each checked to run with
    `images`; both default to the configuration in effect (`vtp config`).

    Raises:
        SpecError: A registry URL among `refs`, a bad description, two files of one package.
        TemplateNotFound / VtpError: An unknown name, a missing or non-pipeline file.
        UnpullableImage: A pipeline names a vtp image Vertex cannot pull, or not the
            configured one.
    """
    from vtp.check.images import refuse_unpullable

    if images is None or compiled is None:
        from vtp import config

        configured = config.load()
        images = images or configured.images()
        compiled = compiled or configured.value("compiled")
    if description is not None:
        description = _header_text(description, "--description")
    if not refs:
        own = Path(compiled) / "pipelines" if compiled else None
        folder = own if own is not None and own.is_dir() else COMPILED_PIPELINES
        refs = [str(p) for p in sorted(folder.glob("*.yaml"))]
        if not refs:
            raise TemplateNotFound(f"no compiled pipelines under {folder}: run `vtp compile`")
    uploads: dict[str, Upload] = {}
    for ref in refs:
        if ref.startswith(("http://", "https://")):
            raise SpecError("PIPELINE", ref, "must be a pipeline name or a compiled YAML file")
        path = local_template_path(ref, compiled)
        package, own = read_pipeline_info(path)
        refuse_unpullable(read_spec(path), images, str(path))
        if not PACKAGE_NAME.match(package):
            raise SpecError(
                f"pipelineInfo.name of {path}", package, f"must match {PACKAGE_NAME.pattern}"
            )
        if package in uploads:
            raise SpecError(
                "PIPELINE",
                ref,
                f"names package {package!r} already given by {uploads[package].path}",
            )
        text = description if description is not None else _header_text(own, None)
        uploads[package] = Upload(path, package, text)
    return list(uploads.values())


def publish(uploads: Sequence[Upload], host: str, tags: Sequence[str]) -> Iterator[Published]:
    """Uploads each pipeline to `host` and points `tags` at it; yields each as it is done.

    Raises:
        RegistryRequestError: The registry failed a request or could not be reached (the
            pipelines yielded before it are published).
    """
    import requests

    client = registry_client(host)
    for upload in uploads:
        with registry_errors(host):
            try:
                existing = {
                    _last(t["name"]): _last(t["version"]) for t in client.list_tags(upload.package)
                }
            except requests.HTTPError as err:
                if http_status(err) != 404:
                    raise
                existing = {}
            new = [t for t in tags if t not in existing]
            headers = {"description": upload.description} if upload.description else None
            package, version = client.upload_pipeline(
                str(upload.path), tags=new or None, extra_headers=headers
            )
            if package != upload.package:
                raise RegistryRequestError(
                    f"registry stored {upload.path} as package {package!r}, "
                    f"expected {upload.package!r} (its pipelineInfo.name)"
                )
            changes = []
            for tag in tags:
                previous = existing.get(tag)
                if previous is not None and previous != version:
                    client.update_tag(package, version, tag)
                changes.append(TagChange(tag, previous, version))
        yield Published(upload.path, host, package, version, tuple(changes))


def list_templates(host: str, packages: Sequence[str] = ()) -> list[PackageEntry]:
    """Every package at `host` (or those named) with its versions, newest first, and tags."""
    client = registry_client(host)
    with registry_errors(host):
        held = sorted(_last(p["name"]) for p in client.list_packages())
        unknown = [p for p in packages if p not in held]
        if unknown:
            raise TemplateNotFound(
                f"template package {unknown[0]!r} not found at {host}; "
                f"packages: {', '.join(held) or 'none'}"
            )
        out = []
        for package in packages or held:
            tags: dict[str, list[str]] = {}
            for tag in client.list_tags(package):
                tags.setdefault(_last(tag["version"]), []).append(_last(tag["name"]))
            versions = [
                VersionEntry(
                    version=_last(v["name"]),
                    created=v.get("createTime", ""),
                    description=v.get("description", ""),
                    tags=tuple(sorted(tags.get(_last(v["name"]), []))),
                )
                for v in client.list_versions(package)
            ]
            versions.sort(key=lambda v: v.created, reverse=True)
            out.append(PackageEntry(package, tuple(versions)))
    return out


def format_published(item: Published) -> str:
    def state(change: TagChange) -> str:
        if change.state == "moved":
            return f"{change.tag} (moved from {_short(change.previous)})"
        return f"{change.tag} ({change.state})"

    urls = item.urls
    lines = [
        f"{item.package}  {_display(item.source)} -> {item.host}",
        f"  version    {item.version}",
        f"  tags       {', '.join(state(c) for c in item.tags)}",
        f"  templates  {urls[0]}",
        *(f"             {url}" for url in urls[1:]),
    ]
    return "\n".join(lines)


def format_listing(host: str, entries: Sequence[PackageEntry]) -> str:
    if not entries:
        return f"no pipeline templates at {host}"
    lines = [f"pipeline templates at {host}"]
    for entry in entries:
        count = len(entry.versions)
        lines.append(f"{entry.package}  ({count} version{'' if count == 1 else 's'})")
        for v in entry.versions:
            tags = ", ".join(v.tags) or "-"
            lines.append(f"  {v.version}  {v.created[:19].replace('T', ' ')}  tags: {tags}")
            if v.description:
                lines.append(f"    {v.description}")
    return "\n".join(lines)


def _header_text(text: str, field: str | None) -> str:
    """`text` as one header line; for `field` a SpecError when it cannot be one, else ''."""
    flat = " ".join(text.split())
    if all(32 <= ord(c) < 127 for c in flat):
        return flat
    if field is None:
        return ""
    raise SpecError(field, text, "must be printable ASCII (it travels as an HTTP header)")


def _last(resource: str) -> str:
    """The id at the end of a resource name (`.../tags/latest` -> `latest`)."""
    from urllib.parse import unquote

    return unquote(resource.rsplit("/", 1)[-1])


def _short(version: str | None) -> str:
    return (version or "")[:19]


def _display(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative
