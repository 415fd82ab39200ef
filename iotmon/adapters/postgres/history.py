"""A device's stored readings as (epoch seconds, value) pairs: what the backtest judges (the API and the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

READINGS_SQL = (
    "SELECT extract(epoch FROM timestamp)::float8, value::float8 FROM sensor_readings"
    " WHERE device_id = %s AND timestamp >= %s AND timestamp <= %s ORDER BY timestamp LIMIT %s"
)


def readings(
    conn: psycopg.Connection[Any], device_id: str, start: datetime, end: datetime, limit: int
) -> list[tuple[float, float]]:
    """Oldest first, from `start` to `end`, at most `limit`."""
    with conn.cursor(row_factory=tuple_row) as cursor:
        return [(at, value) for at, value in cursor.execute(READINGS_SQL, (device_id, start, end, limit))]


_RECENT_SQL = """
SELECT d.device_id, r.at, r.value
FROM unnest(%s::text[], %s::float8[]) AS d (device_id, before)
CROSS JOIN LATERAL (
  SELECT extract(epoch FROM s.timestamp)::float8 AS at, s.value::float8 AS value FROM sensor_readings s
  WHERE s.device_id = d.device_id AND s.timestamp < to_timestamp(d.before)
  ORDER BY s.timestamp DESC LIMIT %s
) r
"""


def recent(conn: psycopg.Connection[Any], before: dict[str, float], limit: int) -> dict[str, list[tuple[float, float]]]:
    """Each device's last `limit` stored readings before a time (epoch seconds), oldest first; one query."""
    found: dict[str, list[tuple[float, float]]] = {device: [] for device in before}
    with conn.cursor(row_factory=tuple_row) as cursor:
        for device, at, value in cursor.execute(_RECENT_SQL, (list(before), list(before.values()), limit)):
            found[device].append((at, value))
    return {device: readings[::-1] for device, readings in found.items()}
