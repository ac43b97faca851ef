"""vtp: training pipelines for Vertex AI, and a local twin that runs them on one machine.

Packages, in the order data flows through them:

- `vtp.components`: typed payload builders (`specs`) and the KFP components built on them;
- `vtp.pipelines`: pipeline definitions composed of those components;
- `vtp.compiler`: pipelines and components to YAML (shipped as `vtp.compiled`);
- `vtp.local`: runs compiled pipelines on this machine (job executor, tuner, registry);
- `vtp.check`, `vtp.cloud`: offline checks, and shipping to Vertex AI (submit, schedules,
  publish, templates, images);
- `vtp.cli`: the `vtp` command.
"""

from importlib.metadata import PackageNotFoundError, version

#: The version lives in one place, the package metadata (`pyproject.toml [project] version`);
#: `vtp --version`, image tags and template tags all read it from here.
UNKNOWN_VERSION = "0+unknown"
try:
    __version__ = version("vtp")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = UNKNOWN_VERSION
