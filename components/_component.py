"""The decorator every vtp Python component uses."""

from __future__ import annotations

import os
from collections.abc import Callable

from kfp import dsl

from vtp import defaults as config

#: Inside a running component, kfp imports `kfp.dsl` in runtime mode (no `dsl.component`).
_IN_COMPONENT_RUNTIME = os.environ.get("_KFP_RUNTIME", "false") == "true"


def vtp_component(func: Callable | None = None, **kwargs):
    """`dsl.component` with vtp's image (which already holds kfp and this package).

    Inside a running component the function is returned as is: a component body may import
    modules of this package that define other components.
    """
    options = {"base_image": config.COMPONENT_IMAGE, "install_kfp_package": False, **kwargs}

    def wrap(f: Callable):
        return f if _IN_COMPONENT_RUNTIME else dsl.component(f, **options)

    return wrap if func is None else wrap(func)
