"""The decorator every vtp Python component uses."""

from __future__ import annotations

from collections.abc import Callable

from kfp import dsl

from components import config


def vtp_component(func: Callable | None = None, **kwargs):
    """`dsl.component` with vtp's image (which already holds kfp and this package)."""
    options = {"base_image": config.COMPONENT_IMAGE, "install_kfp_package": False, **kwargs}
    if func is None:
        return lambda f: dsl.component(f, **options)
    return dsl.component(func, **options)
