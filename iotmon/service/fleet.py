"""The fleet's state for the overview, shared by GET /api/fleet and the `fleet-status` broadcast: taken at most
once a second per replica, however many clients ask (one round of queries for 10,000 devices, not one per
device)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from iotmon.core.contracts.fleet import FleetDevice
from iotmon.service.context import ServiceContext
from iotmon.service.queries import fleet as queries

FRESH_S = 1.0  # a snapshot younger than this is served again
STORED_KEPT_S = 60.0  # the last stored readings of devices Redis has no value of: re-read after this


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    rows: list[queries.Row]
    devices: list[FleetDevice]


class FleetView:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self._snapshot: Snapshot | None = None
        self._taken = 0.0
        self._lock = asyncio.Lock()
        self._stored: dict[str, tuple[float, datetime]] = {}
        self._stored_at = 0.0

    async def snapshot(self, max_age_s: float = FRESH_S) -> Snapshot:
        """The fleet, at most `max_age_s` old; concurrent callers share one reading of it."""
        if self._snapshot is not None and time.monotonic() - self._taken < max_age_s:
            return self._snapshot
        async with self._lock:
            if self._snapshot is not None and time.monotonic() - self._taken < max_age_s:
                return self._snapshot
            now = time.monotonic()
            if now - self._stored_at > STORED_KEPT_S:
                self._stored, self._stored_at = {}, now
            taken_at = datetime.now(UTC)
            async with self.context.db.connection() as conn:
                rows, devices = await queries.snapshot(conn, self.context.redis, taken_at, self._stored)
            self._snapshot, self._taken = Snapshot(taken_at, rows, devices), time.monotonic()
            return self._snapshot
