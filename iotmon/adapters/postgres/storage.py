"""Readings in PostgreSQL: the set-based write path and the reads the API needs.

Writes are one COPY per batch straight into `sensor_readings`. The unique
(device_id, timestamp) index is the idempotency key: when a batch holds a
reading that is already stored (a redelivery), the COPY fails as a whole and
the batch goes through a staging table with `ON CONFLICT DO NOTHING` instead,
so the common case pays nothing for idempotency.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import psycopg
from psycopg import sql

from iotmon.core.contracts.readings import Reading

COLUMNS = ("device_id", "timestamp", "sensor_type", "value", "unit", "location", "status")
_COLUMN_LIST = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))

# What this process has already made sure exists: caches, not state.
_known_months: set[str] = set()


def _rows(readings: Sequence[Reading]) -> Iterator[tuple[str, str, str, float, str, str | None, str]]:
    for r in readings:
        yield (r.device_id, r.timestamp, r.sensor_type, r.value, r.unit, r.location, r.status)


def _copy(conn: psycopg.Connection, table: str, readings: Sequence[Reading]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), _COLUMN_LIST)
    with conn.cursor().copy(statement) as copy:
        for row in _rows(readings):
            copy.write_row(row)


def ensure_partitions(conn: psycopg.Connection, readings: Sequence[Reading]) -> None:
    """Create the monthly partitions a batch needs, asking the database only for unseen months.

    Months are read off the timestamps' text; a UTC offset can move a reading
    into a neighbouring month, so the neighbours are ensured too. Only the months
    the readings are in (an imported history may skip years), not every month between.
    """
    months = {r.timestamp[:7] for r in readings} - _known_months
    if months:
        conn.execute(
            "SELECT ensure_sensor_readings_partitions(m - interval '1 day', m + interval '1 month')"
            " FROM unnest(%s::timestamptz[]) AS m",
            ([f"{month}-01T00:00:00Z" for month in sorted(months)],),
        )
        _known_months.update(months)


def write_readings(conn: psycopg.Connection, readings: Sequence[Reading]) -> int:
    """Store a batch idempotently; returns how many readings were new."""
    if not readings:
        return 0
    ensure_partitions(conn, readings)
    try:
        with conn.transaction():
            _copy(conn, "sensor_readings", readings)
        return len(readings)
    except psycopg.errors.UniqueViolation:
        return _write_deduplicated(conn, readings)


def _write_deduplicated(conn: psycopg.Connection, readings: Sequence[Reading]) -> int:
    with conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS readings_staging"
            " (LIKE sensor_readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        _copy(conn, "readings_staging", readings)
        cursor = conn.execute(
            sql.SQL(
                "INSERT INTO sensor_readings ({cols})"
                " SELECT DISTINCT ON (device_id, timestamp) {cols} FROM readings_staging"
                " ON CONFLICT (device_id, timestamp) DO NOTHING"
            ).format(cols=_COLUMN_LIST)
        )
        # Emptied now, not only at commit: an import writes many batches in one transaction.
        conn.execute("TRUNCATE readings_staging")
        return cursor.rowcount


def forget_cache() -> None:
    """Forget which partitions exist (after they were dropped or truncated)."""
    _known_months.clear()
