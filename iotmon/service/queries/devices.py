"""Devices in PostgreSQL for the API: their rows (all, or a page), history (raw or downsampled), registration and
configuration changes. Decommissioned devices are left out of everything but their history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, LiteralString

import msgspec
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from iotmon.adapters.postgres.history import READINGS_SQL
from iotmon.core import downsample
from iotmon.core.alerts import OPEN_STATUSES, SEVERITIES
from iotmon.core.contracts.devices import (
    Device,
    DeviceConfig,
    DeviceDetails,
    DeviceStats,
    DeviceStatus,
    HistoryPoint,
    LastReading,
    WindowStats,
)
from iotmon.core.devices import LIMIT_NAMES, check_limits, device_status
from iotmon.core.timestamps import iso

Row = dict[str, Any]

_DEVICES_SQL = """
SELECT d.device_id, d.name, d.device_type, d.location, d.unit, d.status,
       d.normal_min::float8, d.normal_max::float8, d.alert_min::float8, d.alert_max::float8,
       d.update_period_ms, d.offline_timeout_s,
       d.anomaly_sensitivity, d.trend_horizon_s, d.trend_window_s, d.breach_count, d.breach_for_s,
       d.clear_after_s, d.hysteresis_pct, d.physical_min::float8, d.physical_max::float8,
       d.created_at, d.updated_at,
       last.value::float8 AS last_value, last.timestamp AS last_timestamp,
       last.status AS last_status,
       (SELECT a.severity FROM alerts a
         WHERE a.device_id = d.device_id AND a.status = ANY(%(open)s)
         ORDER BY array_position(%(severities)s::text[], a.severity::text) DESC LIMIT 1) AS alert_severity
FROM devices d
LEFT JOIN LATERAL (
  SELECT value, timestamp, status FROM sensor_readings s
  WHERE s.device_id = d.device_id ORDER BY timestamp DESC LIMIT 1
) last ON true
"""

# --------------------------------------------------------------------------- rows and their contracts

_IN_SERVICE: LiteralString = "WHERE d.decommissioned_at IS NULL "
_FILTERS: LiteralString = (
    "AND (%(location)s::text IS NULL OR d.location = %(location)s)"
    " AND (%(type)s::text IS NULL OR d.device_type = %(type)s)"
)
_COUNTS = """
SELECT count(*),
       count(*) FILTER (WHERE d.status = 'active' AND EXISTS (
         SELECT 1 FROM sensor_readings s WHERE s.device_id = d.device_id
           AND s.timestamp >= now() - make_interval(secs => d.offline_timeout_s)))
FROM devices d
"""


async def rows(conn: AsyncConnection[Any], device_id: str | None = None) -> list[Row]:
    """Every device in service (or one) with its last reading and worst open alert, by id."""
    where = "AND d.device_id = %(device)s" if device_id is not None else ""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        _DEVICES_SQL + _IN_SERVICE + where + " ORDER BY d.device_id",
        {"open": list(OPEN_STATUSES), "severities": list(SEVERITIES), "device": device_id},
    )
    return await cursor.fetchall()


async def page(
    conn: AsyncConnection[Any], location: str | None, device_type: str | None, limit: int, offset: int
) -> tuple[list[Row], int, int]:
    """A page of the devices in service at `location` of `device_type` (None: any), by id; how many match, and
    how many of those are active (configured so, and heard from within their offline timeout)."""
    values = {"open": list(OPEN_STATUSES), "severities": list(SEVERITIES), "location": location, "type": device_type}
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        _DEVICES_SQL + _IN_SERVICE + _FILTERS + " ORDER BY d.device_id LIMIT %(limit)s OFFSET %(offset)s",
        {**values, "limit": limit, "offset": offset},
    )
    found = await cursor.fetchall()
    counted = await conn.execute(_COUNTS + _IN_SERVICE + _FILTERS, values)
    total, active = await counted.fetchone() or (0, 0)
    return found, total, active


async def one(conn: AsyncConnection[Any], device_id: str) -> Row | None:
    if "\x00" in device_id:  # PostgreSQL text cannot hold NUL: no such device
        return None
    found = await rows(conn, device_id)
    return found[0] if found else None


async def exists(conn: AsyncConnection[Any], device_id: str, *, decommissioned: bool = False) -> bool:
    """Whether the device is in service (or, with `decommissioned`, ever was: its history stays)."""
    if "\x00" in device_id:
        return False
    where: LiteralString = "" if decommissioned else " AND decommissioned_at IS NULL"
    cursor = await conn.execute("SELECT 1 FROM devices WHERE device_id = %s" + where, (device_id,))
    return await cursor.fetchone() is not None


def status(row: Row, now: datetime) -> DeviceStatus:
    return device_status(row["status"], row["last_timestamp"], row["offline_timeout_s"], now)


def config(row: Row) -> DeviceConfig:
    return DeviceConfig(
        normal_min=row["normal_min"],
        normal_max=row["normal_max"],
        alert_min=row["alert_min"],
        alert_max=row["alert_max"],
        update_period_ms=row["update_period_ms"],
        offline_timeout_s=row["offline_timeout_s"],
        anomaly_sensitivity=row["anomaly_sensitivity"],
        trend_horizon_s=row["trend_horizon_s"],
        trend_window_s=row["trend_window_s"],
        breach_count=row["breach_count"],
        breach_for_s=row["breach_for_s"],
        clear_after_s=row["clear_after_s"],
        hysteresis_pct=row["hysteresis_pct"],
        physical_min=row["physical_min"],
        physical_max=row["physical_max"],
    )


def summary(row: Row, now: datetime) -> dict[str, Any]:
    """The fields of DeviceSummary: who a device is, its status and its worst open alert."""
    return {
        "device_id": row["device_id"],
        "name": row["name"],
        "type": row["device_type"],
        "location": row["location"],
        "unit": row["unit"],
        "status": status(row, now),
        "alert_status": row["alert_severity"] or "normal",
    }


def device(row: Row, day: WindowStats | None, now: datetime) -> Device:
    return Device(
        **summary(row, now),
        last_reading=_last_reading(row, with_status=False),
        stats=DeviceStats(avg24h=day.avg if day else None, trend=day.trend if day else None),
        config=config(row),
    )


def details(row: Row, hour: WindowStats | None, day: WindowStats | None, now: datetime) -> DeviceDetails:
    return DeviceDetails(
        **summary(row, now),
        last_reading=_last_reading(row, with_status=True),
        stats=DeviceStats(avg24h=day.avg if day else None, trend=day.trend if day else None, hour=hour, day=day),
        config=config(row),
        configured_status=row["status"],
        created_at=iso(row["created_at"]) if row["created_at"] else None,
        updated_at=iso(row["updated_at"]) if row["updated_at"] else None,
    )


def _last_reading(row: Row, *, with_status: bool) -> LastReading | None:
    if row["last_timestamp"] is None:
        return None
    status = row["last_status"] if with_status else msgspec.UNSET
    return LastReading(value=row["last_value"], timestamp=iso(row["last_timestamp"]), status=status)


# --------------------------------------------------------------------------- history

_RAW_SQL = (
    "SELECT timestamp, value::float8, unit, status FROM sensor_readings"
    " WHERE device_id = %(device)s AND timestamp >= %(from)s AND timestamp <= %(to)s"
    " ORDER BY timestamp DESC LIMIT %(limit)s"
)
_BUCKET_SQL = """
SELECT date_bin(%(step)s::interval, timestamp, 'epoch'::timestamptz) AS bucket,
       avg(value)::float8, min(value)::float8, max(value)::float8, count(*)
FROM sensor_readings
WHERE device_id = %(device)s AND timestamp >= %(from)s AND timestamp <= %(to)s
GROUP BY bucket ORDER BY bucket DESC LIMIT %(limit)s
"""
_HOURLY_SQL = """
SELECT hour_timestamp, avg_value::float8, min_value::float8, max_value::float8, count_readings
FROM device_stats_hourly
WHERE device_id = %(device)s AND hour_timestamp >= date_trunc('hour', %(from)s::timestamptz)
  AND hour_timestamp <= %(to)s
ORDER BY hour_timestamp DESC LIMIT %(limit)s
"""


def history_sql(resolution: str) -> LiteralString:
    """The newest points first, at most %(limit)s: raw readings, minute buckets, or the hourly rollups."""
    return _RAW_SQL if resolution == "raw" else _HOURLY_SQL if resolution == "1h" else _BUCKET_SQL


def history_values(device_id: str, start: datetime, end: datetime, resolution: str, limit: int) -> dict[str, Any]:
    step = timedelta(seconds=downsample.STEP_S.get(resolution, 60))
    return {"device": device_id, "from": start, "to": end, "limit": limit, "step": step}


async def resolution(conn: AsyncConnection[Any], device_id: str, start: datetime, end: datetime, asked: str) -> str:
    """The resolution to serve: as asked, or for `auto` the finest within MAX_POINTS."""
    if asked != "auto":
        return asked
    cap = downsample.MAX_POINTS
    cursor = await conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM sensor_readings WHERE device_id = %s"
        " AND timestamp >= %s AND timestamp <= %s LIMIT %s) s",
        (device_id, start, end, cap + 1),
    )
    (raw_count,) = await cursor.fetchone() or (0,)
    return downsample.choose(raw_count, (end - start).total_seconds(), cap)


async def history(conn: AsyncConnection[Any], values: dict[str, Any], resolution: str) -> list[HistoryPoint]:
    """The points, newest first (the caller turns them around)."""
    cursor = await conn.execute(history_sql(resolution), values)
    found = await cursor.fetchall()
    if resolution == "raw":
        return [
            HistoryPoint(timestamp=iso(at), value=value, unit=unit, status=state) for at, value, unit, state in found
        ]
    return [bucket(*row) for row in found]


def bucket(at: datetime, mean: float | None, low: float | None, high: float | None, count: int | None) -> HistoryPoint:
    return HistoryPoint(
        timestamp=iso(at), value=None if mean is None else round(mean, 4), min=low, max=high, count=count
    )


# --------------------------------------------------------------------------- configuration


async def update_config(
    conn: AsyncConnection[Any], device_id: str, columns: dict[str, Any]
) -> list[dict[str, str]] | None:
    """Set the columns, unless the limits would be out of order; None if there is no such device in service, else
    the problems (none: done). Locks the row, so two updates cannot each pass the check and together break it."""
    if "\x00" in device_id:
        return None
    async with conn.transaction():
        cursor = conn.cursor(row_factory=dict_row)
        current = await (
            await cursor.execute(
                'SELECT normal_min::float8 AS "normalMin", normal_max::float8 AS "normalMax",'
                ' alert_min::float8 AS "alertMin", alert_max::float8 AS "alertMax"'
                " FROM devices WHERE device_id = %s AND decommissioned_at IS NULL FOR UPDATE",
                (device_id,),
            )
        ).fetchone()
        if current is None:
            return None
        changed = {LIMIT_NAMES.get(column, column): value for column, value in columns.items()}
        if problems := check_limits({**current, **changed}):
            return problems
        sets = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)) for column in columns
        )
        update = sql.SQL("UPDATE devices SET {}, updated_at = now() WHERE device_id = %(device)s").format(sets)
        await conn.execute(update, {**columns, "device": device_id})
    return []


# --------------------------------------------------------------------------- registration

_RESET_ON_RETURN: LiteralString = ", created_at = now(), updated_at = now(), decommissioned_at = NULL"


async def create(conn: AsyncConnection[Any], columns: dict[str, Any]) -> bool:
    """Register a device with these columns (device_id among them); False if a device in service has its id.

    A decommissioned device of that id is registered afresh: every column the body leaves out goes back to its
    default, so nothing of the old configuration carries over (its readings and alerts stay)."""
    names = list(columns)
    insert = sql.SQL(
        "INSERT INTO devices ({names}) VALUES ({values}) ON CONFLICT (device_id) DO UPDATE SET {reset}"
        + _RESET_ON_RETURN
        + " WHERE devices.decommissioned_at IS NOT NULL RETURNING device_id"
    ).format(
        names=sql.SQL(", ").join(map(sql.Identifier, names)),
        values=sql.SQL(", ").join(map(sql.Placeholder, names)),
        reset=sql.SQL(", ").join(
            sql.SQL("{column} = EXCLUDED.{column}").format(column=sql.Identifier(column))
            for column in _REGISTERED_COLUMNS
        ),
    )
    cursor = await conn.execute(insert, columns)
    return await cursor.fetchone() is not None


# What a device is registered with: every column a new registration sets, or resets to its default.
_REGISTERED_COLUMNS = (
    "device_type", "location", "unit", "name", "status", "normal_min", "normal_max", "alert_min", "alert_max",
    "update_period_ms", "offline_timeout_s", "anomaly_sensitivity", "trend_horizon_s", "trend_window_s",
    "breach_count", "breach_for_s", "clear_after_s", "hysteresis_pct", "physical_min", "physical_max",
)  # fmt: skip


# --------------------------------------------------------------------------- readings for the backtest


async def readings(
    conn: AsyncConnection[Any], device_id: str, start: datetime, end: datetime, limit: int
) -> list[tuple[float, float]]:
    """(epoch seconds, value) of a device's stored readings from `start` to `end`, oldest first, at most `limit`."""
    cursor = await conn.execute(READINGS_SQL, (device_id, start, end, limit))
    return [(at, value) for at, value in await cursor.fetchall()]
