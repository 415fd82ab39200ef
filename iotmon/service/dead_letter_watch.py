"""The dead letters waiting for a replay, for /api/status and the dashboard's health panel.

Counting them reads the event transport (Kafka or the event log), which may
be slow or away, so it is done in the background at most every REFRESH_S:
status requests and every replica's 5-second system-status broadcast take
the latest count and never wait long for a new one.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool

from eventing import dead_letters
from eventing.transport import Transport
from iotmon.core.contracts.system import DeadLetters

log = logging.getLogger(__name__)

REFRESH_S = 15.0
FIRST_WAIT_S = 1.0  # for the first count; later callers get the previous one while a new one is read


class DeadLetterWatch:
    def __init__(self, transport: Transport, refresh_s: float = REFRESH_S) -> None:
        self.transport = transport
        self.refresh_s = refresh_s
        self._known: DeadLetters | None = None
        self._read_at = -refresh_s
        self._reading: asyncio.Task[None] | None = None

    async def summary(self) -> DeadLetters | None:
        """The latest count by kind and reason; None until the transport could be read."""
        if time.monotonic() - self._read_at >= self.refresh_s and (self._reading is None or self._reading.done()):
            self._read_at = time.monotonic()
            self._reading = asyncio.create_task(self._read())
        if self._known is None and self._reading is not None:
            await asyncio.wait({self._reading}, timeout=FIRST_WAIT_S)
        return self._known

    async def _read(self) -> None:
        try:
            self._known = await run_in_threadpool(dead_letters.summary, self.transport)
        except Exception as error:  # the transport is away: its health check says so
            log.warning("dead letters could not be read", extra={"error": str(error)[:300]})
            self._known = None
