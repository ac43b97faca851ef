"""`vtp publish`: compiled pipelines to an Artifact Registry KFP repository, tagged; `--list`."""

from __future__ import annotations

import argparse
import re
import sys

EXIT_OK = 0

DESCRIPTION = """\
Upload compiled pipelines (every compiled/pipelines/*.yaml, or the ones named) to an
Artifact Registry Kubeflow Pipelines repository. Each becomes a version (the sha256 of the
YAML) of the package named by the pipeline, tagged with the vtp version, `latest` and every
--tag; tags that named another version are moved. Prints the template URLs that
`vtp submit` and `vtp schedule` accept."""

EPILOG = """\
examples:
  vtp publish --project my-project --repository pipelines
      every compiled pipeline, tagged 0.1.0 and latest
  vtp publish training --repository pipelines --tag stable --description "weekly retrain"
  vtp publish build/other.yaml --repository pipelines --location europe-west4
  vtp publish --list --repository pipelines          packages, versions and tags
  vtp publish --host http://127.0.0.1:8080/p/r       another KFP template registry

template URLs:
  https://LOCATION-kfp.pkg.dev/PROJECT/REPOSITORY/PACKAGE/TAG
  https://LOCATION-kfp.pkg.dev/PROJECT/REPOSITORY/PACKAGE/sha256:DIGEST

Artifact Registry needs Google credentials (`gcloud auth application-default login`) and a
repository of format kfp (`gcloud artifacts repositories create REPO --repository-format=kfp
--location=LOCATION`). No credentials are sent to a --host that is not Artifact Registry.
Exit codes: 0 published, 1 the registry failed or refused, 2 bad input (nothing sent)."""

#: Google Cloud project ids.
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


def register(sub, home) -> None:
    p = sub.add_parser(
        "publish",
        help="upload compiled pipelines to Artifact Registry as templates (or --list them)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "pipelines",
        nargs="*",
        metavar="PIPELINE",
        help="pipeline name or compiled YAML file (default: every compiled/pipelines/*.yaml)",
    )
    p.add_argument("--repository", metavar="REPO", help="Artifact Registry repository (kfp)")
    p.add_argument("--project", help="Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)")
    p.add_argument(
        "--location", help="repository region (default: $VTP_LOCATION, else us-central1)"
    )
    p.add_argument(
        "--host",
        metavar="URL",
        help="registry URL instead of https://LOCATION-kfp.pkg.dev/PROJECT/REPOSITORY",
    )
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="another tag (repeatable); A-Z a-z 0-9 - . _ ~ : @",
    )
    p.add_argument(
        "--description",
        metavar="TEXT",
        help="version description (default: the pipeline's own description)",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="list the packages (or the named PIPELINEs), their versions and tags",
    )
    p.set_defaults(handler=run)


def registry_host(args) -> str:
    """The RegistryClient host: --host, or the Artifact Registry repository's URL."""
    from vtp.cloud import vertex_client
    from vtp.cloud.templates import ar_host, check_host, check_repository
    from vtp.errors import SpecError, VtpError

    if args.host:
        given = [f"--{n}" for n in ("project", "location", "repository") if getattr(args, n)]
        if given:
            raise VtpError(f"--host is the whole registry URL: drop {', '.join(given)}")
        return check_host(args.host)
    config = args.config
    repository = config.value("repository")
    if not repository:
        raise VtpError(
            "--repository is required: the Artifact Registry repository (or --host, or "
            "`repository` in the configuration: `vtp config`)"
        )
    where = vertex_client.target(config.value("project"), config.value("location"))
    project, location = where.project, where.location
    if not _PROJECT.match(project):
        raise SpecError(
            "--project", project, "must be a project id: 6-30 of a-z 0-9 -, starting with a letter"
        )
    check_repository(repository)
    return ar_host(project, location, repository)


def run(args) -> int:
    from vtp.cloud import publish
    from vtp.errors import VtpError

    host = registry_host(args)
    if args.list:
        if args.tag or args.description is not None:
            raise VtpError("--list takes no --tag or --description")
        entries = publish.list_templates(host, args.pipelines)
        print(publish.format_listing(host, entries))
        return EXIT_OK

    uploads = publish.prepare(
        args.pipelines,
        args.description,
        images=args.config.images(),
        compiled=args.config.value("compiled"),
    )
    tags = publish.publish_tags(args.tag)
    version_tag = tags[0]
    for done in publish.publish(uploads, host, tags):
        print(publish.format_published(done))
        for change in done.tags:
            if change.tag == version_tag and change.state == "moved":
                print(
                    f"vtp: warning: {done.package}: tag {version_tag} moved from "
                    f"{change.previous}; bump the vtp version to keep it, or pin the "
                    "sha256 URL",
                    file=sys.stderr,
                )
    return EXIT_OK
