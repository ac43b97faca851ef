"""`vtp image build|push`: vtp's container images, with a local Docker engine or Cloud Build."""

from __future__ import annotations

import argparse
import shlex
import sys

EPILOG = """images:
  trainer       trainers/Dockerfile      vtp-trainer      reference trainer, CPU
  trainer-gpu   trainers/Dockerfile.gpu  vtp-trainer-gpu  reference trainer, nvidia/cuda base
  trainer-distributed  trainers/Dockerfile.distributed  vtp-trainer-distributed
                                                         distributed example trainer, CPU
  components    Dockerfile              vtp-components   vtp's Python components
  (default: trainer components; `all` is every image above)

Tags: the project version and the git commit (`-dirty` with uncommitted changes). With a
running Docker engine: `docker build` (and `docker push`); without one, or with --cloud-build:
`gcloud builds submit` (Cloud Build builds and pushes). --dry-run prints the commands only.

examples:
  vtp image build                         build trainer and components into the local engine
  vtp image build trainer --dry-run       print the docker build command, run nothing
  vtp image push all --registry us-central1-docker.pkg.dev/PROJECT/REPO
  vtp image push components --registry us-central1-docker.pkg.dev/PROJECT/REPO --cloud-build
"""


def register(sub, home) -> None:
    """Adds `vtp image build` and `vtp image push`."""
    image = sub.add_parser(
        "image",
        help="build and push vtp's container images",
        description="Build and push vtp's images: the trainer (CPU, GPU), the distributed "
        "example trainer and the components.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = image.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    for name, summary in (
        ("build", "build images (locally with docker, or with Cloud Build)"),
        ("push", "build and push images to --registry"),
    ):
        p = actions.add_parser(
            name,
            parents=[home],
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument(
            "images",
            nargs="*",
            metavar="IMAGE",
            help="trainer, trainer-gpu, trainer-distributed, components or all "
            "(default: trainer components)",
        )
        p.add_argument(
            "--registry",
            metavar="PATH",
            help="where the images go, e.g. us-central1-docker.pkg.dev/PROJECT/REPO"
            + (" (required)" if name == "push" else " (default: local names only)"),
        )
        how = p.add_mutually_exclusive_group()
        how.add_argument("--docker", action="store_true", help="build with the local engine")
        how.add_argument("--cloud-build", action="store_true", help="build with Cloud Build")
        p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
        p.set_defaults(handler=_image)


def _image(args) -> int:
    from vtp.cloud import images
    from vtp.home import LocalHome

    push = args.image_command == "push"
    chosen = images.check_images(args.images)
    forced = images.DOCKER if args.docker else images.CLOUD_BUILD if args.cloud_build else None
    registry = images.check_registry(
        args.config.value("registry"), required="to push images" if push else ""
    )
    root = images.source_root()
    tags = images.image_tags(root)
    try:
        builder, notes = images.choose_builder(forced, registry=registry, dry_run=args.dry_run)
    except images.ToolsMissing as err:
        print(f"vtp: error: {err}", file=sys.stderr)
        return 1
    if builder == images.CLOUD_BUILD:
        build_config = LocalHome.resolve(args.config.value("home")).root / "images"
        plan = images.cloud_build_plan(
            chosen,
            registry=registry,
            tags=tags,
            root=root,
            config_path=build_config / "cloudbuild.yaml",
        )
    else:
        plan = images.docker_plan(chosen, registry=registry, tags=tags, root=root, push=push)
    for note in notes:
        print(f"vtp: {note}", file=sys.stderr)
    where = {
        "registry": registry,
        "configured": args.config.settings["registry"].configured,
    }

    if args.dry_run:
        print(f"# dry run: {len(plan.commands)} command(s), nothing was run")
        if plan.config_path is not None:
            print(f"# {plan.config_path} would hold:")
            print("\n".join(f"#   {line}" for line in plan.config_text.splitlines()))
        for command in plan.commands:
            print(shlex.join(command.argv))
        print("\n" + images.summary(plan, dry_run=True, **where))
        return 0

    verb = "building and pushing" if plan.push else "building"
    print(
        f"vtp: {verb} {', '.join(chosen)} with {builder} (tags {', '.join(tags)})",
        file=sys.stderr,
        flush=True,
    )
    code = images.execute(plan, sys.stderr)
    if code != 0:
        return 1
    print("\n" + images.summary(plan, dry_run=False, **where))
    return 0
