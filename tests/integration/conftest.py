"""What the integration modules share: one in-process system for the whole session, clients on it, and
connection pools on the clean database (the servers and `clean_db` are in tests/conftest.py).

The system (tests/support/service.py: the embedded event log, no simulator, no rate limit, no cron ticks) is
started once, when a test first asks for it, and serves every module that needs those settings; a test
that needs a clean database still asks for `clean_db` (or `api`, which does). After each test that used
it, the fixture below waits until the system's pipeline has handled everything the test sent, so that
nothing a test set off runs into the next one.

Systems with other settings stay where their tests are: Kafka and cron ticks (test_chain_kafka.py), a
second replica (test_realtime.py), a low rate limit, CORS origins, no anonymous reading (test_auth.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import redis as redis_lib
from psycopg_pool import ConnectionPool

from iotmon.adapters.postgres import db
from iotmon.system import System
from tests.support.service import operator_client, running_system, settle


@pytest.fixture(scope="session")
def service(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The whole system in this process, on the suite's PostgreSQL and Redis, shared by the session."""
    with running_system(database_url, redis_url, tmp_path_factory.mktemp("system")) as system:
        yield system


@pytest.fixture(autouse=True)
def _settle_the_shared_system(request: pytest.FixtureRequest) -> Iterator[None]:
    system = request.getfixturevalue("service") if "service" in request.fixturenames else None
    yield
    if system is not None:
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


@pytest.fixture
def new_pool(clean_db: str) -> Iterator[Callable[[], ConnectionPool]]:
    """Connection pools on the clean database, a new one per call (one per evaluator, as replicas have their
    own); all closed after the test."""
    made: list[ConnectionPool] = []

    def make() -> ConnectionPool:
        made.append(db.pool(clean_db))
        return made[-1]

    yield make
    for pool in made:
        pool.close()


@pytest.fixture
def pool(new_pool: Callable[[], ConnectionPool]) -> ConnectionPool:
    """A connection pool on the clean database."""
    return new_pool()
