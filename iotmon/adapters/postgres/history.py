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
