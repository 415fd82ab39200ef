"""The fleet's state, taken set-based: the devices table and the open alerts in two queries, every current value
in one Redis MGET; stored readings only for the devices Redis has no current value of (silent over an hour).
iotmon.service.fleet puts them together and keeps what did not change."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis
from psycopg import AsyncConnection

from iotmon.core.alerts import OPEN_STATUSES, SEVERITIES
from iotmon.core.contracts.devices import ConfiguredStatus, Level, LiveValue, WindowStats
from iotmon.core.contracts.fleet import FleetDevice
from iotmon.core.devices import device_status
from iotmon.core.fleet import state_of
from iotmon.core.stats import Ranges, status
from iotmon.core.timestamps import iso
from iotmon.service.queries import live

log = logging.getLogger(__name__)

_DEVICES_SQL = """
SELECT device_id, name, device_type, location, unit, status, offline_timeout_s,
       normal_min::float8, normal_max::float8, alert_min::float8, alert_max::float8
FROM devices WHERE decommissioned_at IS NULL ORDER BY device_id
"""
_ALERTS_SQL = """
SELECT device_id, (%(severities)s::text[])[max(array_position(%(severities)s::text[], severity::text))]
FROM alerts WHERE status = ANY(%(open)s) GROUP BY device_id
"""
_LAST_SQL = """
SELECT d.id, last.value::float8, last.timestamp
FROM unnest(%s::text[]) AS d(id)
JOIN LATERAL (
  SELECT value, timestamp FROM sensor_readings s WHERE s.device_id = d.id ORDER BY timestamp DESC LIMIT 1
) last ON true
"""
_HOURLY_SQL = """
SELECT device_id, hour_timestamp, avg_value::float8 FROM device_stats_hourly
WHERE device_id = ANY(%s) AND hour_timestamp >= %s
"""


@dataclass(frozen=True, slots=True)
class Row:
    """A device as the fleet needs it."""

    device_id: str
    name: str | None
    type: str
    location: str
    unit: str | None
    status: ConfiguredStatus
    offline_timeout_s: int
    normal_min: float | None
    normal_max: float | None
    alert_min: float | None
    alert_max: float | None

    @property
    def ranges(self) -> Ranges:
        return Ranges(self.normal_min, self.normal_max, self.alert_min, self.alert_max)


async def rows(conn: AsyncConnection[Any]) -> list[Row]:
    cursor = await conn.execute(_DEVICES_SQL)
    return [Row(*found) for found in await cursor.fetchall()]


async def open_alerts(conn: AsyncConnection[Any]) -> dict[str, str]:
    """Each device's worst open alert (devices without one are left out)."""
    cursor = await conn.execute(_ALERTS_SQL, {"severities": list(SEVERITIES), "open": list(OPEN_STATUSES)})
    return dict(await cursor.fetchall())


async def last_stored(conn: AsyncConnection[Any], device_ids: list[str]) -> dict[str, tuple[float, datetime]]:
    if not device_ids:
        return {}
    cursor = await conn.execute(_LAST_SQL, (device_ids,))
    return {device: (value, at) for device, value, at in await cursor.fetchall()}


async def current_raw(redis: aioredis.Redis, names: Sequence[str | bytes]) -> list[bytes | None]:
    """The documents under `names` as stored (None where absent, or all None when Redis is down): the caller
    decodes only those that changed since it last looked."""
    if not names:
        return []
    try:
        found = cast(list[bytes | None], await redis.mget(names))
    except Exception as error:  # Redis down: the states come from PostgreSQL's stored readings
        log.warning("redis unavailable for the fleet", extra={"error": str(error)[:200]})
        return [None] * len(names)
    return found


_live_value = msgspec.json.Decoder(LiveValue)


def decode(raw: bytes) -> tuple[LiveValue, datetime] | None:
    try:
        current = _live_value.decode(raw)
        return current, datetime.fromisoformat(current.timestamp)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        return None


def fleet_device(
    row: Row,
    current: tuple[LiveValue, datetime] | None,
    stored: tuple[float, datetime] | None,
    alert_status: str,
    now: datetime,
) -> FleetDevice:
    """A device's fleet state from its live value (else its last stored reading)."""
    value: float | None = None
    timestamp: str | None = None
    at: datetime | None = None
    level: Level | None = None
    if current is not None:
        live_value, at = current
        value, timestamp, level = live_value.value, live_value.timestamp, live_value.status
    elif stored is not None:
        value, at = stored
        timestamp, level = iso(at), status(value, row.ranges)
    device = device_status(row.status, at, row.offline_timeout_s, now)
    return FleetDevice(
        device_id=row.device_id,
        name=row.name,
        type=row.type,
        location=row.location,
        unit=row.unit,
        status=device,
        state=state_of(device, level),
        alert_status=alert_status,  # type: ignore[arg-type]
        value=value,
        level=level,
        timestamp=timestamp,
    )


async def day_stats(redis: aioredis.Redis, device_ids: list[str]) -> list[WindowStats | None]:
    return await live.stats(redis, device_ids, "24h")


async def hourly_means(
    conn: AsyncConnection[Any], device_ids: list[str], since: datetime
) -> dict[str, dict[datetime, float]]:
    """The hourly means of these devices from `since` (the rollups), by device and hour."""
    found: dict[str, dict[datetime, float]] = {device: {} for device in device_ids}
    if device_ids:
        cursor = await conn.execute(_HOURLY_SQL, (device_ids, since))
        for device, hour, mean in await cursor.fetchall():
            found[device][hour] = mean
    return found
