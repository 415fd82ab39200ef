"""Session-wide real servers (see tests/support/servers.py), per-test clean state, and the session's system.

The system (tests/support/service.py: the embedded event log, no simulator, no rate limit, no cron ticks) is
started once, when a test first asks for it, and serves every module that needs those settings; a test
that needs a clean database still asks for `clean_db` (or `api`, which does). After each test that used
it, the fixture below waits until the system's pipeline has handled everything the test sent, so that
nothing a test set off runs into the next one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import httpx
import psycopg
import pytest
import redis as redis_lib

from iotmon.adapters.postgres import db, storage
from iotmon.system import System
from tests.support import servers
from tests.support.paths import SCHEMA_DIR
from tests.support.service import operator_client, running_system, settle

# anyio (4.16+) imports its submodules lazily, on first use; anyio is also a pytest plugin, so pytest's assertion
# rewriter compiles those submodules as they are imported. A first use in a server thread (a FileResponse's
# anyio.open_file) then compiles at the same time as the main thread, which CPython 3.11's parser does not
# survive (SystemError: AST constructor recursion depth mismatch). Every lazy name resolved here, once.
for _name in dir(anyio):
    getattr(anyio, _name)


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
                    "TRUNCATE sensor_readings, alerts, device_stats_hourly, system_events, silences, notifications,"
                    " reading_imports"
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


@pytest.fixture(scope="session")
def service(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The whole system in this process, on the suite's PostgreSQL and Redis, shared by the session."""
    with running_system(database_url, redis_url, tmp_path_factory.mktemp("system")) as system:
        yield system


@pytest.fixture(autouse=True)
def _settle_the_shared_system(request: pytest.FixtureRequest) -> Iterator[None]:
    system = request.getfixturevalue("service") if "service" in request.fixturenames else None
    yield
    if isinstance(system, System):  # not the browser tests' `service`, an `iotmon up` process of their own
        settle(system)


@pytest.fixture
def url(service: System) -> str:
    """The shared system's base URL."""
    return service.url


@pytest.fixture
def api(service: System, clean_db: str, redis: redis_lib.Redis) -> Iterator[httpx.Client]:
    """An operator's HTTP client on the shared system, with a clean database and an empty Redis."""
    with operator_client(service, clean_db) as client:
        yield client
