"""PostgreSQL: connection pools and the numbered migrations in `schema/`."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

log = logging.getLogger(__name__)

# schema/ at the repository root, carried in the package (a link here, files in a wheel).
SCHEMA_DIR = Path(__file__).with_name("schema")
_MIGRATION = re.compile(r"^(\d+)_[\w-]+\.sql$")
_LOCK_ID = 7_301_001  # advisory lock that serialises concurrent `migrate` runs


# Fail fast while PostgreSQL is away, and heal without help when it is back.
# libpq waits 130 s for a server that does not answer; 2 s is its least connect_timeout.
# The keepalives and tcp_user_timeout end a TCP connection to a vanished host in about 10 s
# (the kernel's defaults take minutes to hours); on a Unix socket libpq ignores them.
CONNECTION: dict[str, Any] = {
    "autocommit": True,
    "connect_timeout": 2,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
# How long a caller waits for a pooled connection before PoolTimeout (psycopg_pool's default: 30 s).
# The functions' callers retry a failed event, so they may wait for a busy pool; the API answers
# 503 within 2 s (API_WAIT_S, iotmon.service).
WAIT_S = 5.0
# A lost connection is replaced in the background, retrying after 1, 2, 4 s… psycopg_pool backs off
# up to 5 minutes; giving up after 10 s keeps the gaps short: the next caller starts a new attempt,
# so the pool connects again within seconds of the server's return.
RECONNECT_TIMEOUT_S = 10.0


def pool(url: str, max_size: int = 4, wait_s: float = WAIT_S) -> ConnectionPool:
    check = _SweepOnFailure()
    check.pool = ConnectionPool(url, max_size=max_size, open=True, **_options(wait_s, check))
    return check.pool


def async_pool(url: str, max_size: int = 10, wait_s: float = WAIT_S) -> AsyncConnectionPool:
    check = _AsyncSweepOnFailure()
    check.pool = AsyncConnectionPool(url, max_size=max_size, open=False, **_options(wait_s, check))
    return check.pool


def _options(wait_s: float, check: Any) -> dict[str, Any]:
    return {
        "min_size": 1,
        "kwargs": CONNECTION,
        "timeout": wait_s,
        "reconnect_timeout": RECONNECT_TIMEOUT_S,
        # One empty query before lending a connection: after a restart a dead one is replaced, not lent.
        "check": check,
    }


class _SweepOnFailure:
    """The check before lending a connection; when one fails, every idle one is checked at once.

    After a server restart all of them are dead. psycopg_pool would try them one by one, sleeping its
    reconnect backoff (1, 2 s…) between, so a caller met its timeout with the server long back."""

    pool: ConnectionPool | None = None

    def __call__(self, conn: psycopg.Connection[Any]) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if self.pool is not None:
                self.pool.check()  # drops the dead ones and asks for new connections
            raise


class _AsyncSweepOnFailure:
    pool: AsyncConnectionPool | None = None

    async def __call__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            if self.pool is not None:
                await self.pool.check()
            raise


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
