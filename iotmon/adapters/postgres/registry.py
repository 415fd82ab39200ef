"""The device registry in PostgreSQL: which devices are in service, registering devices readings name, and
decommissioning.

Readings are accepted only for devices in the registry that are not decommissioned. Each check is one query
for a whole batch (by primary key), never one per reading.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

import psycopg
from psycopg import sql

from iotmon.adapters.postgres import alerts
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.contracts.readings import Reading
from iotmon.core.devices import unregistered

DECOMMISSIONED_NOTE = "device decommissioned"


@dataclass(frozen=True, slots=True)
class Entry:
    location: str
    decommissioned_at: datetime | None

    @property
    def in_service(self) -> bool:
        return self.decommissioned_at is None


def lookup(conn: psycopg.Connection, device_ids: Collection[str]) -> dict[str, Entry]:
    """The registry's entries of these devices (an id that is not there is unknown)."""
    ids = [device for device in set(device_ids) if "\x00" not in device]  # text cannot hold NUL: unknown
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT device_id, location, decommissioned_at FROM devices WHERE device_id = ANY(%s)", (ids,)
    ).fetchall()
    return {device: Entry(location, decommissioned) for device, location, decommissioned in rows}


def refusal(device_id: str, entries: dict[str, Entry]) -> str | None:
    """Why a reading of the device is refused (None: the device is in service)."""
    entry = entries.get(device_id)
    if entry is None:
        return unregistered(device_id)
    return None if entry.in_service else unregistered(device_id, entry.decommissioned_at)


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device to register in bulk: who it is and, if known, its limits."""

    device_id: str
    device_type: str
    unit: str
    location: str
    name: str | None = None
    normal_min: float | None = None
    normal_max: float | None = None
    alert_min: float | None = None
    alert_max: float | None = None
    update_period_ms: int | None = None

    @classmethod
    def of_reading(cls, reading: Reading) -> NewDevice:
        return cls(reading.device_id, reading.sensor_type, reading.unit, location_of(reading))


def location_of(reading: Reading) -> str:
    """Where a device registered from its reading is: where the reading says, if it says."""
    return reading.location or "unknown"


_NEW_COLUMNS = tuple(field.name for field in fields(NewDevice))
_NEW_TYPES = ("text",) * 5 + ("numeric",) * 4 + ("int",)


def register(conn: psycopg.Connection, devices: Sequence[NewDevice]) -> list[str]:
    """Register the devices that were never registered, in one statement (the first of an id wins). A
    decommissioned device stays decommissioned: only registering it again on purpose (POST /api/devices) brings
    it back. Returns the ids registered."""
    first = {device.device_id: device for device in reversed(devices)}
    if not first:
        return []
    columns = sql.SQL(", ").join(map(sql.Identifier, _NEW_COLUMNS))
    arrays = sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(kind)) for kind in _NEW_TYPES)
    insert = sql.SQL(
        "INSERT INTO devices ({columns}) SELECT * FROM unnest({arrays})"
        " ON CONFLICT (device_id) DO NOTHING RETURNING device_id"
    ).format(columns=columns, arrays=arrays)
    rows = conn.execute(insert, [[getattr(d, column) for d in first.values()] for column in _NEW_COLUMNS]).fetchall()
    return [device for (device,) in rows]


def register_from(conn: psycopg.Connection, readings: Sequence[Reading]) -> list[str]:
    """Register the devices these readings are the first to name: type, unit and location from the reading."""
    return register(conn, [NewDevice.of_reading(reading) for reading in readings])


def decommission(
    conn: psycopg.Connection, device_id: str, *, at: datetime, actor: str, source: str
) -> list[AlertChange] | None:
    """Mark the device decommissioned and resolve its open alerts, in one transaction; None if it is not in
    service. Its readings, rollups and alerts stay."""
    with conn.transaction():
        marked = conn.execute(
            "UPDATE devices SET decommissioned_at = %s, updated_at = %s"
            " WHERE device_id = %s AND decommissioned_at IS NULL RETURNING device_id",
            (at, at, device_id),
        ).fetchone()
        if marked is None:
            return None
        return alerts.resolve_device(conn, device_id, at=at, source=source, actor=actor, note=DECOMMISSIONED_NOTE)
