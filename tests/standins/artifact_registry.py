"""A loopback stand-in for an Artifact Registry Kubeflow Pipelines repository.

It serves exactly the endpoints `kfp.registry.RegistryClient` calls for a host it does not
know (kfp's `context/default_pkg_dev.json`: every URL relative to the host), with Artifact
Registry's behaviour:

- `POST {host}`: multipart upload (`content` file, optional `tags` form field, comma-joined;
  optional `description` header). The file must be a KFP pipeline YAML with a valid
  `pipelineInfo.name`, which names the package; the version is `sha256:<hex digest of the
  bytes>`. Uploading identical bytes again yields the same version. Tags sent with an upload
  are created, or moved when they exist ("uploaded artifacts that conflict with existing
  resources will be overwritten", the AR upload reference). Answers `package/version` as text.
- `GET {host}/{package}/{tag | sha256:...}`: the YAML bytes.
- `{host}/packages[/{package}[/versions[/{version}] | /tags[/{tag}]]]`: list, get and delete
  packages, versions and tags; `POST .../tags?tagId=T` creates a tag (409 ALREADY_EXISTS when
  it exists), `PATCH .../tags/T?updateMask=version` moves it. A tagged version cannot be
  deleted (RegistryClient sends no `force`).

Unknown repositories, packages, versions and tags answer 404 with Google's error JSON
(`{"error": {"code", "message", "status"}}`). Resource names are AR's
(`projects/P/locations/L/repositories/R/packages/...`). Every request is recorded.

    with ArtifactRegistryStandIn() as registry:
        host = registry.host_for("my-project", "pipelines")  # RegistryClient(host=host)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

_PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_TAG = re.compile(r"^[A-Za-z0-9._~:@-]+$")
_VERSION = re.compile(r"^sha256:[0-9a-f]{64}$")
_STATUS = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class _Version:
    content: bytes
    description: str
    created: str
    updated: str


@dataclass
class _Package:
    created: str
    updated: str
    versions: dict[str, _Version] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class _Error(Exception):
    def __init__(self, code: int, message: str, status: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS[code]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ArtifactRegistryStandIn:
    """Threaded HTTP server on 127.0.0.1 (random port) holding KFP repositories in memory."""

    def __init__(self, location: str = "us-central1"):
        self.location = location
        self.requests: list[RecordedRequest] = []
        self._repos: dict[tuple[str, str], dict[str, _Package]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ArtifactRegistryStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "use the stand-in as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def host_for(self, project: str, repo: str) -> str:
        """The `RegistryClient(host=...)` URL of repository `repo` of `project` (created empty)."""
        with self._lock:
            self._repos.setdefault((project, repo), {})
        return f"{self.url}/{project}/{repo}"

    # Inspection helpers for tests.

    def tags(self, project: str, repo: str, package: str) -> dict[str, str]:
        """Tag -> version of one package."""
        with self._lock:
            return dict(self._repos[(project, repo)][package].tags)

    def versions(self, project: str, repo: str, package: str) -> list[str]:
        """The package's versions, oldest first."""
        with self._lock:
            return list(self._repos[(project, repo)][package].versions)

    def content(self, project: str, repo: str, package: str, version: str) -> bytes:
        with self._lock:
            return self._repos[(project, repo)][package].versions[version].content

    def description(self, project: str, repo: str, package: str, version: str) -> str:
        with self._lock:
            return self._repos[(project, repo)][package].versions[version].description

    # Request handling (called from server threads).

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handle(self, method: str, path: str, query: dict, headers: dict, body: bytes):
        """(status, content type, body bytes) for one request."""
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        if len(segments) < 2:
            raise _Error(404, f"no repository in path {path!r}")
        project, repo, rest = segments[0], segments[1], segments[2:]
        with self._lock:
            packages = self._repos.get((project, repo))
            if packages is None:
                raise _Error(404, f"Repository {self._repo_name(project, repo)!r} not found.")
            names = _Names(project, self.location, repo)
            if not rest:
                if method != "POST":
                    raise _Error(405, f"{method} is not supported on the repository")
                package, version = self._upload(packages, headers, body)
                return 200, "text/plain", f"{package}/{version}".encode()
            if rest[0] != "packages":
                if method != "GET" or len(rest) != 2:
                    raise _Error(404, f"no such resource: {path}")
                return 200, "application/x-yaml", self._download(packages, names, *rest)
            return (
                200,
                "application/json",
                json.dumps(self._api(packages, names, method, rest[1:], query, body)).encode(),
            )

    def _repo_name(self, project: str, repo: str) -> str:
        return f"projects/{project}/locations/{self.location}/repositories/{repo}"

    def _upload(self, packages: dict[str, _Package], headers: dict, body: bytes):
        ctype = headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise _Error(400, f"upload must be multipart/form-data, got {ctype!r}")
        fields = _multipart(ctype, body)
        if "content" not in fields:
            raise _Error(400, "upload has no 'content' file")
        content = fields["content"]
        package = _pipeline_name(content)
        tags = [t.strip() for t in fields.get("tags", b"").decode().split(",") if t.strip()]
        for tag in tags:
            _check_tag(tag)
        version = "sha256:" + hashlib.sha256(content).hexdigest()
        now = _now()
        pkg = packages.setdefault(package, _Package(created=now, updated=now))
        description = headers.get("description", "")
        existing = pkg.versions.get(version)
        if existing is None:
            pkg.versions[version] = _Version(content, description, now, now)
        else:
            existing.description = description or existing.description
            existing.updated = now
        for tag in tags:
            pkg.tags[tag] = version
        pkg.updated = now
        return package, version

    def _download(self, packages, names: _Names, package: str, ref: str) -> bytes:
        pkg = self._package(packages, names, package)
        version = ref if ref.startswith("sha256:") else pkg.tags.get(ref)
        if version is None:
            raise _Error(404, f"Tag {names.tag(package, ref)!r} not found.")
        if version not in pkg.versions:
            raise _Error(404, f"Version {names.version(package, version)!r} not found.")
        return pkg.versions[version].content

    def _package(self, packages, names: _Names, package: str) -> _Package:
        if package not in packages:
            raise _Error(404, f"Package {names.package(package)!r} not found.")
        return packages[package]

    def _api(self, packages, names: _Names, method: str, rest: list[str], query, body) -> dict:
        if not rest:
            _allow(method, "GET")
            return {"packages": [names.package_json(n, p) for n, p in sorted(packages.items())]}
        package, rest = rest[0], rest[1:]
        pkg = self._package(packages, names, package)
        if not rest:
            _allow(method, "GET", "DELETE")
            if method == "DELETE":
                del packages[package]
                return {"name": f"{names.repo}/operations/delete-{package}", "done": True}
            return names.package_json(package, pkg)
        kind, rest = rest[0], rest[1:]
        if kind == "versions":
            return self._versions(pkg, names, package, method, rest)
        if kind == "tags":
            return self._tags(pkg, names, package, method, rest, query, body)
        raise _Error(404, f"no such collection {kind!r}")

    def _versions(self, pkg: _Package, names: _Names, package: str, method, rest) -> dict:
        if not rest:
            _allow(method, "GET")
            return {"versions": [names.version_json(package, pkg, v) for v in pkg.versions]}
        version = rest[0]
        if version not in pkg.versions:
            raise _Error(404, f"Version {names.version(package, version)!r} not found.")
        _allow(method, "GET", "DELETE")
        if method == "GET":
            return names.version_json(package, pkg, version)
        tagged = sorted(t for t, v in pkg.tags.items() if v == version)
        if tagged:
            message = f"Version {version} has tags {', '.join(tagged)}; delete them first"
            raise _Error(400, message, "FAILED_PRECONDITION")
        del pkg.versions[version]
        return {"name": f"{names.repo}/operations/delete-{version}", "done": True}

    def _tags(self, pkg: _Package, names: _Names, package: str, method, rest, query, body):
        if not rest:
            _allow(method, "GET", "POST")
            if method == "GET":
                return {"tags": [names.tag_json(package, t, v) for t, v in pkg.tags.items()]}
            tag = query.get("tagId", "")
            _check_tag(tag)
            if tag in pkg.tags:
                raise _Error(409, f"Tag {names.tag(package, tag)!r} already exists.")
            pkg.tags[tag] = _version_of(body, names, package, pkg)
            pkg.updated = _now()
            return names.tag_json(package, tag, pkg.tags[tag])
        tag = rest[0]
        if tag not in pkg.tags:
            raise _Error(404, f"Tag {names.tag(package, tag)!r} not found.")
        _allow(method, "GET", "PATCH", "DELETE")
        if method == "PATCH":
            if query.get("updateMask") != "version":
                raise _Error(400, "updateMask must be 'version'")
            pkg.tags[tag] = _version_of(body, names, package, pkg)
            pkg.updated = _now()
        elif method == "DELETE":
            del pkg.tags[tag]
            return {}
        return names.tag_json(package, tag, pkg.tags[tag])


@dataclass(frozen=True)
class _Names:
    """Artifact Registry resource names of one repository."""

    project: str
    location: str
    repository: str

    @property
    def repo(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository}"

    def package(self, package: str) -> str:
        return f"{self.repo}/packages/{package}"

    def version(self, package: str, version: str) -> str:
        return f"{self.package(package)}/versions/{version}"

    def tag(self, package: str, tag: str) -> str:
        return f"{self.package(package)}/tags/{tag}"

    def package_json(self, package: str, pkg: _Package) -> dict:
        return {"name": self.package(package), "createTime": pkg.created, "updateTime": pkg.updated}

    def tag_json(self, package: str, tag: str, version: str) -> dict:
        return {"name": self.tag(package, tag), "version": self.version(package, version)}

    def version_json(self, package: str, pkg: _Package, version: str) -> dict:
        v = pkg.versions[version]
        out = {
            "name": self.version(package, version),
            "createTime": v.created,
            "updateTime": v.updated,
            "relatedTags": [
                self.tag_json(package, t, version) for t, tv in pkg.tags.items() if tv == version
            ],
        }
        if v.description:
            out["description"] = v.description
        return out


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _Error(405, f"{method} is not supported here; allowed: {', '.join(allowed)}")


def _check_tag(tag: str) -> None:
    if not _TAG.match(tag) or tag.startswith("sha256:"):
        raise _Error(400, f"invalid tag {tag!r}: use [a-zA-Z0-9-._~:@], not starting 'sha256:'")


def _version_of(body: bytes, names: _Names, package: str, pkg: _Package) -> str:
    """The version a tag request points at: `packages/P/versions/V` or the full name."""
    try:
        wanted = json.loads(body or b"{}").get("version", "")
    except (ValueError, AttributeError) as err:
        raise _Error(400, f"tag body is not a JSON object: {err}") from None
    short = f"packages/{package}/versions/"
    if wanted.startswith(short):
        version = wanted[len(short) :]
    elif wanted.startswith(names.package(package) + "/versions/"):
        version = wanted.rsplit("/", 1)[-1]
    else:
        raise _Error(400, f"tag version must name a version of package {package!r}: {wanted!r}")
    if version not in pkg.versions:
        raise _Error(404, f"Version {names.version(package, version)!r} not found.")
    return version


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise _Error(400, "malformed multipart body")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


def _pipeline_name(content: bytes) -> str:
    try:
        docs = list(yaml.safe_load_all(content))
    except yaml.YAMLError as err:
        raise _Error(400, f"uploaded file is not YAML: {str(err).splitlines()[0]}") from None
    doc = docs[0] if docs else None
    info = doc.get("pipelineInfo") if isinstance(doc, dict) else None
    name = info.get("name") if isinstance(info, dict) else None
    if not isinstance(name, str):
        raise _Error(400, "uploaded file is not a KFP pipeline: no pipelineInfo.name")
    if not _PIPELINE_NAME.match(name):
        raise _Error(400, f"pipelineInfo.name {name!r} must match {_PIPELINE_NAME.pattern}")
    return name


def _handler_class(registry: ArtifactRegistryStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = dict(parse_qsl(split.query))
            registry._record(RecordedRequest(self.command, split.path, query, headers, body))
            try:
                status, ctype, payload = registry._handle(
                    self.command, split.path, query, headers, body
                )
            except _Error as err:
                status, ctype = err.code, "application/json"
                error = {"code": err.code, "message": err.message, "status": err.status}
                payload = json.dumps({"error": error}).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format, *args) -> None:
            pass

    return Handler
