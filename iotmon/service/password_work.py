"""Password hashing off the event loop, and bounded.

An Argon2id hash takes ~50 ms of CPU and 19 MiB of memory. Run on the event
loop it would stall every other request; run for every login at once, a flood
of them would take all the memory. So hashes run on AT_ONCE threads of their
own (not the shared thread pool: each thread's allocator keeps the memory a
hash used), with at most MAX_WAITING logins queued behind them; beyond that a
login is answered 503 with Retry-After at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from iotmon.service.responses import ApiError

T = TypeVar("T")
AT_ONCE = 2
MAX_WAITING = 32


class PasswordWork:
    def __init__(self, at_once: int = AT_ONCE, max_waiting: int = MAX_WAITING) -> None:
        self._threads = ThreadPoolExecutor(at_once, thread_name_prefix="password")
        self._max_waiting, self._queued = max_waiting, 0

    async def run(self, work: Callable[..., T], *args: object) -> T:
        if self._queued >= self._max_waiting:
            raise ApiError(503, "BUSY", "too many logins at once: try again in a second", retry_after=1)
        self._queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)
        finally:
            self._queued -= 1

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
