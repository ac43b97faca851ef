"""Vertex AI's prebuilt training containers: the images a `python_package_spec` may run on.

Source: "Prebuilt containers for custom training",
https://cloud.google.com/vertex-ai/docs/training/pre-built-containers (and the "Supported
frameworks list", https://cloud.google.com/vertex-ai/docs/supported-frameworks-list), checked
2026-12-04. Every image is published in three multi-region repositories (`us-`, `europe-`,
`asia-docker.pkg.dev/vertex-ai/training/`) and used with the `latest` tag. The list changes as
Vertex adds framework versions and retires old ones: update `FRAMEWORK_IMAGES` (and the date
above) from that page.
"""

from __future__ import annotations

import re

from vtp.errors import SpecError

SOURCE_URL = "https://cloud.google.com/vertex-ai/docs/training/pre-built-containers"
CHECKED = "2026-12-04"
REGISTRIES = ("us-docker.pkg.dev", "europe-docker.pkg.dev", "asia-docker.pkg.dev")
REPOSITORY = "vertex-ai/training"

#: Image names (without registry, repository and tag), by framework.
FRAMEWORK_IMAGES: dict[str, tuple[str, ...]] = {
    "scikit-learn": ("sklearn-cpu.1-0", "scikit-learn-cpu.0-23"),
    "xgboost": ("xgboost-cpu.1-1",),
    "tensorflow": tuple(
        f"tf-{kind}.2-{minor}.py310" for minor in range(17, 10, -1) for kind in ("cpu", "gpu")
    ),
    "pytorch": (
        *(f"pytorch-gpu.2-{minor}.py310" for minor in range(4, -1, -1)),
        *(f"pytorch-xla.2-{minor}.py310" for minor in range(4, 0, -1)),
        "pytorch-gpu.1-13.py310",
        "pytorch-xla.1-13.py310",
    ),
}
IMAGE_NAMES = frozenset(name for names in FRAMEWORK_IMAGES.values() for name in names)

_URI = re.compile(
    r"(?P<registry>[a-z]+-docker\.pkg\.dev)/vertex-ai/training/(?P<name>[^:@/\s]+)(?::(?P<tag>\S+))?"
)


def is_prebuilt_training_image(uri: str) -> bool:
    """Whether `uri` is one of Vertex's prebuilt training containers (`...:latest`)."""
    match = _URI.fullmatch(uri.strip())
    return bool(
        match
        and match["registry"] in REGISTRIES
        and match["name"] in IMAGE_NAMES
        and match["tag"] in (None, "latest")
    )


def check_executor_image(uri: str, field: str = "executor_image_uri") -> str:
    """`uri` when it is a prebuilt training container, else SpecError naming a few."""
    if not isinstance(uri, str) or not is_prebuilt_training_image(uri):
        examples = ", ".join(
            f"us-docker.pkg.dev/{REPOSITORY}/{names[0]}:latest"
            for names in FRAMEWORK_IMAGES.values()
        )
        raise SpecError(
            field,
            uri,
            "must be one of Vertex AI's prebuilt training containers "
            f"({'|'.join(r.split('-')[0] for r in REGISTRIES)}-docker.pkg.dev/{REPOSITORY}/"
            f"NAME:latest), e.g. {examples}; the list ({SOURCE_URL}, checked {CHECKED}) is in "
            "vtp.components.specs.prebuilt_training. A trainer on an image of your own runs "
            "as a container: set trainer_image instead",
        )
    return uri.strip()
