"""Waiting for something that happens in another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 30.0,
    what: str | Callable[[], str] = "the condition",
    every: float = 0.05,
) -> Any:
    """Poll `condition` until it returns something truthy, and return that; fail the test after `timeout` s.

    `what` names what was awaited in the failure; a callable is asked then, to say how things stood."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")
        time.sleep(every)
