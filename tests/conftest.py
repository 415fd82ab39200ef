"""Session-wide real servers (see tests/support/servers.py) and per-test clean state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis as redis_lib

from iotmon.adapters.postgres import db, storage
from tests.support import servers
from tests.support.paths import SCHEMA_DIR


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.postgres(tmp_path_factory.mktemp("postgres")) as url:
        db.migrate(url)
        yield url


@pytest.fixture
def clean_db(database_url: str, redis_url: str) -> str:
    """The test database with no readings, alerts, stats, silences or notifications (devices back to the five seed
    devices, as 003_seed_devices.sql makes them), and an empty Redis."""
    for attempt in range(5):  # a system a fixture keeps running may hold locks: deadlocks are retried
        try:
            with psycopg.connect(database_url) as conn, conn.transaction():
                conn.execute(
                    "TRUNCATE sensor_readings, alerts, device_stats_hourly, system_events, silences, notifications"
                    " CASCADE"
                )
                conn.execute("DELETE FROM devices")
                conn.execute((SCHEMA_DIR / "003_seed_devices.sql").read_text())
            break
        except psycopg.errors.DeadlockDetected:
            if attempt == 4:
                raise
    storage.forget_cache()
    # Redis holds state derived from PostgreSQL (windows, rule machines, cached answers): it goes too.
    redis_lib.Redis.from_url(redis_url).flushdb()
    return database_url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with servers.kafka() as bootstrap:
        yield bootstrap


@pytest.fixture
def redis(clean_db: str, redis_url: str) -> redis_lib.Redis:
    """A client on the suite's Redis, emptied with the database."""
    return redis_lib.Redis.from_url(redis_url)


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A migrated database of the test's own on the suite's server: for tests whose events must not reach the
    shared system, whose event log is in the suite's database."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = psycopg.conninfo.make_conninfo(database_url, dbname=name)
    db.migrate(url)
    yield url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
