"""Imported history in PostgreSQL: recorded points of one device stored as its readings, in one transaction.

The points go through ingest's own write path (`storage.write_readings`: COPY in batches, idempotent on
(device, timestamp)), then the hourly rollups of every hour they touched are recomputed, and the import is
recorded in `reading_imports`, which retention and the offline rule read (schema/014_reading_imports.sql).
Nothing goes through Kafka or Redis: an import raises no alert and no live message, and leaves the device's
live state (current value, windows) as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from iotmon.adapters.postgres import rollups, storage
from iotmon.core.contracts.devices import ImportProblem, ImportSummary
from iotmon.core.contracts.readings import Reading
from iotmon.core.recorded import Point, Problem, Tally
from iotmon.core.timestamps import iso

BATCH = 5000  # readings per COPY
ROLLUP_BATCH = 1000  # hours recomputed per statement


@dataclass(frozen=True, slots=True)
class Target:
    """The registered device the points are readings of."""

    device_id: str
    sensor_type: str
    unit: str
    location: str | None
    decommissioned_at: datetime | None  # history is imported only into a device in service


def target(conn: psycopg.Connection, device_id: str) -> Target | None:
    """The device to import into; None if it is not registered."""
    if "\x00" in device_id:  # text cannot hold NUL: no such device
        return None
    row = conn.execute(
        "SELECT device_type, coalesce(unit, ''), location, decommissioned_at FROM devices WHERE device_id = %s",
        (device_id,),
    ).fetchone()
    return None if row is None else Target(device_id, *row)


def run(
    conn: psycopg.Connection,
    device: Target,
    points: Iterable[Point | Problem],
    imported_by: str | None = None,
    progress: Callable[[int], object] | None = None,
) -> ImportSummary:
    """Store the good points as the device's readings (one transaction); counts the bad ones."""
    tally, stored, hours = Tally(), 0, set[datetime]()
    batch: list[Reading] = []
    with conn.transaction():
        for item in points:
            tally.count(item)
            if isinstance(item, Point):
                batch.append(_reading(device, item))
                hours.add(item.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
            if len(batch) >= BATCH:
                stored += storage.write_readings(conn, batch)
                batch = []
                if progress is not None:
                    progress(tally.read)
        stored += storage.write_readings(conn, batch)
        _roll_up(conn, device.device_id, sorted(hours))
        if tally.first is not None and tally.last is not None:
            conn.execute(
                "INSERT INTO reading_imports (device_id, first_at, last_at, rows_imported, imported_by)"
                " VALUES (%s, %s, %s, %s, %s)",
                (device.device_id, tally.first, tally.last, stored, imported_by),
            )
    return _summary(device.device_id, tally, stored)


def _reading(device: Target, item: Point) -> Reading:
    # Built, not validated: the point was checked (time, value) and the rest is the registry's own.
    timestamp = item.at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return Reading(
        device_id=device.device_id,
        timestamp=timestamp,
        sensor_type=device.sensor_type,
        value=item.value,
        unit=device.unit,
        location=device.location,
    )


def _roll_up(conn: psycopg.Connection, device_id: str, hours: list[datetime]) -> None:
    for start in range(0, len(hours), ROLLUP_BATCH):
        rollups.roll_up(conn, [(device_id, hour) for hour in hours[start : start + ROLLUP_BATCH]])


def _summary(device_id: str, tally: Tally, stored: int) -> ImportSummary:
    good = tally.read - tally.rejected
    return ImportSummary(
        device_id=device_id,
        rows_read=tally.read,
        imported=stored,
        duplicates=good - stored,
        rejected=tally.rejected,
        from_=iso(tally.first) if tally.first else None,
        to=iso(tally.last) if tally.last else None,
        problems=[ImportProblem(row=p.row, reason=p.reason) for p in tally.problems],
    )
