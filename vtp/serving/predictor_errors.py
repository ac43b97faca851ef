"""BadInstance as the 400 the model server answers (FastAPI's HTTPException), so the SDK's
handler passes it through instead of turning it into a 500 with a traceback in the log."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from vtp.serving.instances import BadInstance


def as_http_400(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except BadInstance as err:
            from fastapi import HTTPException

            raise HTTPException(status_code=400, detail=str(err)) from None

    return wrapper
