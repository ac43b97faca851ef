"""Where the reference trainers' sources are, so local replicas of their images can run them.

The reference trainer images (`trainers/Dockerfile*`) hold `/app/trainer/` and run
`python -m trainer.task` from `/app`. Locally the same sources ship with vtp
(`vtp._trainers`); a replica of one of those images gets their directory on `PYTHONPATH`, as
`/app` is on the image's path.
"""

from __future__ import annotations

from vtp.shipped import trainers_root

#: Image names (without registry and tag) built from `trainers/`.
REFERENCE_IMAGES = ("vtp-trainer", "vtp-trainer-gpu", "vtp-trainer-distributed")

__all__ = ["REFERENCE_IMAGES", "is_reference_image", "trainers_root"]


def is_reference_image(image_uri: str) -> bool:
    """Whether `image_uri` names one of the reference trainer images (any registry or tag)."""
    name = image_uri.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    return name in REFERENCE_IMAGES
