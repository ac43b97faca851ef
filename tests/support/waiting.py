"""Waiting for something to happen without comparing clocks.

`wait_until` polls a condition until it holds; what bounds the wait is the test's own timeout
(pytest-timeout, `timeout` in pyproject.toml), which fails a test that waits forever. Tests
assert on what happened (states, messages, recorded timestamps), never on elapsed seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, poll_s: float = 0.05) -> T:
    """The first truthy value `condition()` returns, polling every `poll_s` seconds."""
    while not (value := condition()):
        time.sleep(poll_s)
    return value
