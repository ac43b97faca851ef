"""Pipeline template references: a catalog pipeline, a compiled YAML or a registry URL.

`resolve_template` turns any of them into a local YAML file. Registry URLs are those of a
Kubeflow Pipelines template registry, such as an Artifact Registry KFP repository:
`https://LOCATION-kfp.pkg.dev/PROJECT/REPOSITORY/PACKAGE/TAG` or `.../PACKAGE/sha256:DIGEST`;
the part before the package is the `kfp.registry.RegistryClient` host. Artifact Registry
hosts use Google's default credentials; any other host (a self-hosted registry, a loopback
stand-in) gets kfp's host-relative endpoints and no credentials at all.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vtp.errors import RemoteError, SpecError, VtpError
from vtp.shipped import compiled_pipelines

#: Compiled pipelines shipped with vtp (`vtp compile` writes them).
COMPILED_PIPELINES = compiled_pipelines()

VERSION_PREFIX = "sha256:"

#: Characters Artifact Registry allows in a tag id without URL encoding (its Tag resource);
#: kfp's RegistryClient puts tags in URLs unencoded and joins upload tags with commas.
_TAG = re.compile(r"^[A-Za-z0-9._~:@-]+$")
TAG_RULE = "must be one or more of A-Z a-z 0-9 - . _ ~ : @ and not start with 'sha256:'"
_VERSION = re.compile(r"^sha256:[0-9a-f]{64}$")
#: KFP's rule for pipeline names (`kfp.dsl.utils.validate_pipeline_name`): the package name.
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
#: The Artifact Registry host kfp's RegistryClient recognises (`_KNOWN_HOSTS_REGEX`).
_AR_HOST = re.compile(r"^https://[\w-]+-kfp\.pkg\.dev/[^/]+/[^/]+$")
URL_FORM = "http(s)://HOST/.../PACKAGE/TAG or http(s)://HOST/.../PACKAGE/sha256:DIGEST"


class TemplateNotFound(VtpError, LookupError):
    """A template reference that names nothing: unknown pipeline, file, package, tag or version."""


class RegistryRequestError(RemoteError):
    """A template registry that failed a request, could not be reached or refused credentials."""


@dataclass(frozen=True)
class ResolvedTemplate:
    """A template ready to submit.

    Attributes:
        path: Local compiled pipeline YAML (downloaded for a registry URL).
        template_uri: The registry URL, as `PipelineJob.template_uri` records it; None for a
            local file.
        version_name: The registry version the URL resolved to, `sha256:...` (the form of
            `PipelineJob.template_metadata.version`); None for a local file.
        pipeline_name: `pipelineInfo.name` of the YAML.
    """

    path: Path
    template_uri: str | None
    version_name: str | None
    pipeline_name: str


#: Artifact Registry repository ids.
_REPOSITORY = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


def check_repository(value: str, field: str = "--repository") -> str:
    """An Artifact Registry repository id, or a SpecError naming `field`."""
    if not isinstance(value, str) or not _REPOSITORY.match(value):
        raise SpecError(field, value, "must be a repository id: a-z 0-9 -, up to 63")
    return value


def ar_host(project: str, location: str, repository: str) -> str:
    """The RegistryClient host of an Artifact Registry KFP repository."""
    return f"https://{location}-kfp.pkg.dev/{project}/{repository}"


def is_ar_host(host: str) -> bool:
    return bool(_AR_HOST.match(host))


def check_host(host: str, field: str = "--host") -> str:
    """`host` without a trailing slash; a SpecError unless it is an http(s) URL."""
    parts = urlsplit(host.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SpecError(field, host, "must be an http(s) URL without query or fragment")
    return host.strip().rstrip("/")


def check_tag(tag: str, field: str = "--tag") -> str:
    """`tag`, or a SpecError naming it when a registry would refuse it."""
    if not isinstance(tag, str) or not _TAG.match(tag) or tag.startswith(VERSION_PREFIX):
        raise SpecError(field, tag, TAG_RULE)
    return tag


def template_url(host: str, package: str, ref: str) -> str:
    """The URL of `package` at a tag or `sha256:` version: what `vtp submit` accepts."""
    return f"{host}/{package}/{ref}"


def parse_template_url(url: str) -> tuple[str, str, str]:
    """(RegistryClient host, package, tag or version) of a registry template URL."""
    parts = urlsplit(url)
    segments = parts.path.strip("/").split("/") if parts.path.strip("/") else []
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SpecError("template URL", url, f"must look like {URL_FORM}")
    if len(segments) < 2:
        raise SpecError("template URL", url, f"must end in /PACKAGE/TAG: {URL_FORM}")
    host = f"{parts.scheme}://{parts.netloc}" + "".join(f"/{s}" for s in segments[:-2])
    package, ref = segments[-2], segments[-1]
    if parts.netloc.endswith("-kfp.pkg.dev") and not is_ar_host(host):
        form = "https://LOCATION-kfp.pkg.dev/PROJECT/REPOSITORY/PACKAGE/TAG (or sha256:DIGEST)"
        raise SpecError("template URL", url, f"on Artifact Registry must be {form}")
    if not PACKAGE_NAME.match(package):
        raise SpecError("template URL package", package, f"must match {PACKAGE_NAME.pattern}")
    if ref.startswith(VERSION_PREFIX):
        if not _VERSION.match(ref):
            raise SpecError("template URL version", ref, "must be sha256: and 64 hex digits")
    else:
        check_tag(ref, "template URL tag")
    return host, package, ref


def read_spec(path: Path) -> dict:
    """The first document of a compiled pipeline YAML (already read once by
    `read_pipeline_info`, so known to be one)."""
    import yaml

    return next(iter(yaml.load_all(path.read_bytes(), Loader=yaml_loader())))


def read_pipeline_info(path: Path) -> tuple[str, str]:
    """(`pipelineInfo.name`, `pipelineInfo.description`) of a compiled pipeline YAML."""
    import yaml

    try:
        docs = list(yaml.load_all(path.read_bytes(), Loader=yaml_loader()))
    except yaml.YAMLError as err:
        raise VtpError(f"{path} is not YAML: {str(err).splitlines()[0]}") from None
    doc = docs[0] if docs else None
    info = doc.get("pipelineInfo") if isinstance(doc, dict) else None
    name = info.get("name") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        raise VtpError(
            f"{path} is not a compiled KFP pipeline (no pipelineInfo.name); "
            "compile one with `vtp compile`"
        )
    description = info.get("description")
    return name, description if isinstance(description, str) else ""


def yaml_loader():
    """PyYAML's fastest safe loader (the C one when built)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def registry_client(host: str):
    """A RegistryClient for `host`: Google credentials for Artifact Registry, none elsewhere."""
    from kfp.registry import RegistryClient
    from kfp.registry.registry_client import DEFAULT_REGISTRY_CONTEXT

    if is_ar_host(host):
        import google.auth.exceptions

        try:
            return RegistryClient(host=host)
        except google.auth.exceptions.DefaultCredentialsError:
            raise RegistryRequestError(
                f"no Google credentials for {host}: run `gcloud auth application-default "
                "login` or set GOOGLE_APPLICATION_CREDENTIALS"
            ) from None
    # An explicit no-op auth keeps kfp from reading ~/.config/kfp/registry_credentials.json and
    # requests from reading ~/.netrc; the explicit context keeps kfp's host-relative URLs even
    # when ~/.config/kfp/registry_context.json exists.
    return RegistryClient(host=host, auth=_no_auth(), config_file=DEFAULT_REGISTRY_CONTEXT)


def _no_auth():
    import requests

    class NoAuth(requests.auth.AuthBase):
        def __call__(self, request):
            return request

    return NoAuth()


@contextmanager
def registry_errors(host: str) -> Iterator[None]:
    """Turns failed registry requests into a one-line RegistryRequestError."""
    import google.auth.exceptions
    import requests

    try:
        yield
    except requests.HTTPError as err:
        raise RegistryRequestError(describe_http_error(err)) from None
    except requests.RequestException as err:
        reason = re.search(r"\[Errno -?\d+\][^'\")]*", str(err))
        detail = reason.group(0).strip() if reason else type(err).__name__
        raise RegistryRequestError(f"cannot reach the registry at {host}: {detail}") from None
    except google.auth.exceptions.GoogleAuthError as err:
        raise RegistryRequestError(f"Google credentials refused for {host}: {_line(err)}") from None


def describe_http_error(err) -> str:
    """`registry request failed: METHOD URL -> 404 NOT_FOUND: message`, on one line."""
    response = err.response
    status, message = response.reason, response.text
    try:
        error = response.json()["error"]
        status, message = error.get("status") or status, error.get("message") or message
    except (ValueError, KeyError, TypeError):
        pass
    request = response.request
    return (
        f"registry request failed: {request.method} {request.url} -> "
        f"{response.status_code} {status}: {_line(message)[:300]}"
    )


def http_status(err) -> int | None:
    response = getattr(err, "response", None)
    return response.status_code if response is not None else None


def _line(text: object) -> str:
    return " ".join(str(text).split())


def resolve_template(
    ref: str, *, work_dir: Path | None = None, compiled: str | Path | None = None
) -> ResolvedTemplate:
    """The local YAML (and registry identity) of a template reference.

    Args:
        ref: A catalog pipeline name (`training`: `<compiled>/pipelines/training.yaml`, else
            vtp's shipped template), a path to a compiled pipeline YAML, or a registry URL
            `http(s)://HOST/.../PACKAGE/TAG` or `.../PACKAGE/sha256:DIGEST`.
        work_dir: Where a registry template is downloaded to (created when missing); a new
            temporary directory by default.
        compiled: Your compiled pipelines' directory (`compiled` of the configuration).

    Raises:
        SpecError: A malformed URL, tag or version, before any request.
        TemplateNotFound: An unknown name, a missing file, or a package, tag or version the
            registry does not hold (the message lists what it does hold).
        RegistryRequestError: The registry failed or could not be reached.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise SpecError("template", ref, f"must be a pipeline name, a YAML file or {URL_FORM}")
    if ref.startswith(("http://", "https://")):
        return _from_registry(ref.rstrip("/"), work_dir)
    path = local_template_path(ref, compiled)
    return ResolvedTemplate(path, None, None, read_pipeline_info(path)[0])


def local_template_path(ref: str, compiled: str | Path | None = None) -> Path:
    """The compiled YAML of a catalog pipeline name (in `compiled/pipelines/` when there, else
    vtp's shipped template), or the existing file `ref` names."""
    from vtp import catalog

    if ref in catalog.PIPELINES:
        own = Path(compiled) / "pipelines" / f"{ref}.yaml" if compiled else None
        if own is not None and own.is_file():
            return own.resolve()
        path = COMPILED_PIPELINES / f"{ref}.yaml"
        if not path.is_file():
            raise TemplateNotFound(f"pipeline {ref!r} is not compiled ({path}): run `vtp compile`")
        return path
    path = Path(ref).expanduser()
    if path.is_file():
        return path.resolve()
    known = ", ".join(sorted(catalog.PIPELINES))
    if "://" in ref or path.exists() or path.suffix or "/" in ref:
        what = "is not a file" if path.exists() else "not found"
        raise TemplateNotFound(
            f"template {ref!r}: {what}; a template is a pipeline name ({known}), "
            f"a compiled pipeline YAML file or a registry URL {URL_FORM}"
        )
    raise TemplateNotFound(
        f"unknown pipeline {ref!r}; known: {known} (or a compiled YAML file, or {URL_FORM})"
    )


def _from_registry(url: str, work_dir: Path | None) -> ResolvedTemplate:
    import requests

    host, package, ref = parse_template_url(url)
    client = registry_client(host)
    with registry_errors(host):
        if ref.startswith(VERSION_PREFIX):
            version = ref
        else:
            try:
                version = _version_name(client.get_tag(package, ref).get("version", ""))
            except requests.HTTPError as err:
                if http_status(err) != 404:
                    raise
                raise _not_found(client, host, package, tag=ref) from None
        folder = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="vtp-template-"))
        target = folder / f"{package}_{version.removeprefix(VERSION_PREFIX)}.yaml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            client.download_pipeline(package, version=version, file_name=str(target))
        except requests.HTTPError as err:
            if http_status(err) != 404:
                raise
            raise _not_found(client, host, package, version=version) from None
        finally:
            if not work_dir and not target.exists():
                shutil.rmtree(folder, ignore_errors=True)
    return ResolvedTemplate(target, url, version, read_pipeline_info(target)[0])


def _version_name(resource: str) -> str:
    """`sha256:...` of a version resource name (`.../versions/sha256:...`)."""
    version = resource.rsplit("/", 1)[-1]
    if not _VERSION.match(version):
        raise RegistryRequestError(f"registry answered an unexpected version name {resource!r}")
    return version


def _not_found(client, host: str, package: str, *, tag: str = "", version: str = ""):
    """A TemplateNotFound naming what is missing and what the registry holds instead."""
    import requests

    try:
        if tag:
            held = sorted(t["name"].rsplit("/", 1)[-1] for t in client.list_tags(package))
            return TemplateNotFound(
                f"tag {tag!r} not found in template package {package!r} at {host}; "
                f"tags: {', '.join(held) or 'none'}"
            )
        held = [v["name"].rsplit("/", 1)[-1] for v in client.list_versions(package)]
        listed = ", ".join(held) if len(held) <= 3 else f"{len(held)} versions"
        return TemplateNotFound(
            f"version {version} not found in template package {package!r} at {host}; "
            f"it has {listed or 'no versions'} (`vtp publish --list` shows them)"
        )
    except requests.HTTPError as err:
        if http_status(err) != 404:
            raise
    try:
        packages = sorted(p["name"].rsplit("/", 1)[-1] for p in client.list_packages())
    except requests.HTTPError as err:
        if http_status(err) != 404:
            raise
        return TemplateNotFound(f"no template repository at {host}")
    return TemplateNotFound(
        f"template package {package!r} not found at {host}; packages: "
        f"{', '.join(packages) or 'none'}"
    )
