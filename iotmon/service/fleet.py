"""The fleet's state for the overview, shared by GET /api/fleet and the `fleet-status` broadcast: taken at most
once a second per replica, however many clients ask (one round of queries for 10,000 devices, not one per
device)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from iotmon.adapters.redis import keys
from iotmon.adapters.redis.keys import CURRENT_TTL_S
from iotmon.core import fleet
from iotmon.core.contracts.devices import LiveValue
from iotmon.core.contracts.fleet import FleetCounts, FleetDevice, FleetGroup
from iotmon.core.devices import device_status
from iotmon.service.context import ServiceContext
from iotmon.service.queries import fleet as queries

# What a device's fleet state is made of: its row, live value, last stored reading, worst open alert and status.
Made = tuple[queries.Row, tuple[LiveValue, datetime] | None, tuple[float, datetime] | None, str, str]

FRESH_S = 1.0  # a snapshot younger than this is served again
STORED_KEPT_S = 60.0  # the last stored readings of devices Redis has no value of: re-read after this
ROWS_KEPT_S = 10.0  # the devices table: read again after this, or at once when the API changed a device


@dataclass(frozen=True)
class Snapshot:
    """The fleet at one moment. What every answer and `fleet-status` of it share (the counts, the groups, the
    devices in order) is worked out once, on first use: sorting 10,000 devices for each request took longer than
    the rest of the answer."""

    taken_at: datetime
    rows: list[queries.Row]
    devices: list[FleetDevice]
    _ordered: dict[fleet.Sort, list[FleetDevice]] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def totals(self) -> FleetCounts:
        return fleet.counts(self.devices)

    @cached_property
    def groups(self) -> list[FleetGroup]:
        return fleet.groups(self.devices)

    @cached_property
    def types(self) -> list[str]:
        return sorted({device.type for device in self.devices})

    def search(self, asked: fleet.Search) -> list[FleetDevice]:
        """The devices that match, in the order asked (the snapshot's own list when nothing narrows it: not to be
        changed)."""
        if asked.sort not in self._ordered:
            self._ordered[asked.sort] = fleet.ordered(self.devices, asked.sort)
        return fleet.matching(self._ordered[asked.sort], asked)


class FleetView:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self._snapshot: Snapshot | None = None
        self._taken = 0.0
        self._lock = asyncio.Lock()
        self._rows: list[queries.Row] = []
        # The rows' live value keys, made with the rows, as bytes: redis-py's asyncio client encodes each argument
        # of the MGET in Python (10,000 a second).
        self._names: list[bytes] = []
        self._rows_at = float("-inf")
        self._rows_generation: bytes | None = None
        self._decoded: dict[str, tuple[bytes, tuple[LiveValue, datetime] | None]] = {}
        self._built: dict[str, tuple[Made, FleetDevice]] = {}
        self._stored: dict[str, tuple[float, datetime]] = {}
        self._stored_at = 0.0

    async def snapshot(self, max_age_s: float = FRESH_S) -> Snapshot:
        """The fleet, at most `max_age_s` old; concurrent callers share one reading of it."""
        if self._snapshot is not None and time.monotonic() - self._taken < max_age_s:
            return self._snapshot
        async with self._lock:
            if self._snapshot is not None and time.monotonic() - self._taken < max_age_s:
                return self._snapshot
            self._snapshot, self._taken = await self._take(), time.monotonic()
            return self._snapshot

    async def _take(self) -> Snapshot:
        now = time.monotonic()
        if now - self._stored_at > STORED_KEPT_S:
            self._stored, self._stored_at = {}, now
        taken_at = datetime.now(UTC)
        redis = self.context.redis
        async with self.context.db.connection() as conn:
            generation, *_ = await queries.current_raw(redis, [keys.cache_generation("devices")])
            if now - self._rows_at > ROWS_KEPT_S or generation != self._rows_generation:
                self._rows, self._rows_at, self._rows_generation = await queries.rows(conn), now, generation
                self._names = [keys.current(row.device_id).encode() for row in self._rows]
            rows = self._rows
            alerts = await queries.open_alerts(conn)
            raws = await queries.current_raw(redis, self._names)
            currents = [self._decode(row.device_id, raw) for row, raw in zip(rows, raws, strict=True)]
            missing = [row.device_id for row, current in zip(rows, currents, strict=True) if current is None]
            if unknown := [device for device in missing if device not in self._stored]:
                found = await queries.last_stored(conn, unknown)
                # Kept only when older than Redis keeps a current value: it changes no more (a new reading makes
                # a current value). A recent one without a current value (Redis restarted) is read each time.
                old = taken_at - timedelta(seconds=CURRENT_TTL_S)
                self._stored.update((device, last) for device, last in found.items() if last[1] < old)
                stored = {**self._stored, **found}
            else:
                stored = self._stored
        if len(self._decoded) > 2 * len(rows) + 1000:  # devices gone: forget them
            self._decoded = {
                row.device_id: self._decoded[row.device_id] for row in rows if row.device_id in self._decoded
            }
            self._built = {row.device_id: self._built[row.device_id] for row in rows if row.device_id in self._built}
        devices = [
            self._device(row, current, stored.get(row.device_id), alerts.get(row.device_id, "normal"), taken_at)
            for row, current in zip(rows, currents, strict=True)
        ]
        return Snapshot(taken_at, rows, devices)

    def _device(
        self,
        row: queries.Row,
        current: tuple[LiveValue, datetime] | None,
        stored: tuple[float, datetime] | None,
        alert_status: str,
        now: datetime,
    ) -> FleetDevice:
        """A device's fleet state: the one of the last snapshot when nothing it is made of changed (most devices,
        most seconds), else made anew."""
        at = current[1] if current is not None else stored[1] if stored is not None else None
        made = (row, current, stored, alert_status, device_status(row.status, at, row.offline_timeout_s, now))
        kept = self._built.get(row.device_id)
        if kept is not None and kept[0] == made:
            return kept[1]
        device = queries.fleet_device(row, current, stored, alert_status, now)
        self._built[row.device_id] = (made, device)
        return device

    def _decode(self, device_id: str, raw: bytes | None) -> tuple[LiveValue, datetime] | None:
        """A device's live value, decoded only when it changed since the last snapshot."""
        if raw is None:
            return None
        cached = self._decoded.get(device_id)
        if cached is not None and cached[0] == raw:
            return cached[1]
        found = queries.decode(raw)
        self._decoded[device_id] = (raw, found)
        return found
