"""PostgreSQL: connection pools and the numbered migrations in `schema/`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

log = logging.getLogger(__name__)

# schema/ at the repository root, carried in the package (a link here, files in a wheel).
SCHEMA_DIR = Path(__file__).with_name("schema")
_MIGRATION = re.compile(r"^(\d+)_[\w-]+\.sql$")
_LOCK_ID = 7_301_001  # advisory lock that serialises concurrent `migrate` runs


def pool(url: str, max_size: int = 4) -> ConnectionPool:
    return ConnectionPool(url, min_size=1, max_size=max_size, kwargs={"autocommit": True}, open=True)


def async_pool(url: str, max_size: int = 10) -> AsyncConnectionPool:
    return AsyncConnectionPool(url, min_size=1, max_size=max_size, kwargs={"autocommit": True}, open=False)


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration file, in order."""
    found = []
    for path in SCHEMA_DIR.glob("*.sql"):
        match = _MIGRATION.match(path.name)
        if match:
            found.append((int(match.group(1)), path.name, path.read_text()))
    return sorted(found)


def migrate(url: str) -> list[str]:
    """Apply the migrations not yet applied, each in its own transaction; returns their names."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                applied.append(name)
                log.info("migration applied", extra={"migration": name})
            # Keep partitions ahead of time on every start, not only on the first.
            conn.execute(
                "SELECT ensure_sensor_readings_partitions(now() - interval '3 months', now() + interval '2 months')"
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied
