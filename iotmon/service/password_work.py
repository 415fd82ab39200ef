"""Password hashing off the event loop, and bounded.

An Argon2id hash takes ~50 ms of CPU and 19 MiB of memory. Run on the event
loop it would stall every other request; run for every login at once, a flood
of them would take all the memory. So hashes run in worker threads, at most
AT_ONCE at a time per replica, with at most MAX_WAITING logins queued behind
them; beyond that a login is answered 503 with Retry-After at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from iotmon.service.responses import ApiError

T = TypeVar("T")
AT_ONCE = 2
MAX_WAITING = 32


class PasswordWork:
    def __init__(self, at_once: int = AT_ONCE, max_waiting: int = MAX_WAITING) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._max_waiting, self._waiting = max_waiting, 0

    async def run(self, work: Callable[..., T], *args: object) -> T:
        if self._waiting >= self._max_waiting:
            raise ApiError(503, "BUSY", "too many logins at once: try again in a second", retry_after=1)
        self._waiting += 1
        try:
            async with self._slots:
                return await run_in_threadpool(work, *args)
        finally:
            self._waiting -= 1
