"""What the integration modules share: connection pools on the clean database (the servers, `clean_db` and the
session's in-process system are in tests/conftest.py).

Systems with other settings stay where their tests are: Kafka and cron ticks (test_chain_kafka.py), a
second replica (test_realtime.py); those of the security settings are in tests/security.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from psycopg_pool import ConnectionPool

from iotmon.adapters.postgres import db


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
