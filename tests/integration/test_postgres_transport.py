"""The embedded run's durable transport (eventing/postgres.py) on real PostgreSQL.

Kafka's contract as every transport keeps it, and what only a durable one can promise: what `publish`
returned for is still there for a new process, a group resumes from its commit, and concurrent
publishers never make a consumer skip a record that committed late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from eventing.postgres import PostgresTransport
from tests.support.transport_contract import TransportContract, events, numbers, topic

__all__ = ["topic"]  # the contract's fixture


@pytest.fixture
def transport(database_url: str) -> Iterator[PostgresTransport]:
    transport = PostgresTransport(database_url, partitions=4, prune_every_s=0)
    yield transport
    transport.close()


class TestPostgresTransport(TransportContract):
    """The contract every transport keeps, on PostgreSQL."""


def test_what_was_published_survives_the_process(database_url: str, transport: PostgresTransport, topic: str) -> None:
    consumer = transport.consumer(topic, "g")
    transport.publish(topic, events("k", 10))
    consumer.commit(consumer.poll(3, 0))
    consumer.poll(100, 0)  # taken, never committed
    transport.close()  # the process "dies"

    again = PostgresTransport(database_url, partitions=4)
    try:
        assert numbers(again.consumer(topic, "g").poll(100, 0)) == list(range(3, 10))
    finally:
        again.close()


def test_a_consumer_never_skips_a_record_that_commits_late(transport: PostgresTransport, topic: str) -> None:
    """Four publishers race on one partition while a consumer reads: it gets every record, each once."""
    consumer = transport.consumer(topic, "g")
    seen: list[int] = []

    def publish(start: int) -> None:
        for n in range(start, start + 200, 10):
            transport.publish(topic, events("one-key", 10, n))

    publishers = [threading.Thread(target=publish, args=(start,)) for start in range(0, 800, 200)]
    for thread in publishers:
        thread.start()
    while any(thread.is_alive() for thread in publishers) or consumer.lag():
        seen += numbers(consumer.poll(50, 0.05))
    assert sorted(seen) == list(range(800))


def test_a_poll_wakes_as_soon_as_a_record_is_published(transport: PostgresTransport, topic: str) -> None:
    consumer = transport.consumer(topic, "g")
    timer = threading.Timer(0.2, transport.publish, (topic, events("k", 1)))
    started = time.monotonic()
    timer.start()
    assert numbers(consumer.poll(10, 10.0)) == [0]
    assert time.monotonic() - started < 5.0  # woken, not timed out
    timer.join()


def test_the_backlog_is_what_each_group_has_not_committed(transport: PostgresTransport, topic: str) -> None:
    a, b = transport.consumer(topic, "a"), transport.consumer(topic, "b")
    transport.publish(topic, events("k", 6))
    a.commit(a.poll(4, 0))
    b.poll(6, 0)  # polled, not committed: still to handle
    backlog = transport.backlog()
    assert (backlog[(topic, "a")], backlog[(topic, "b")]) == (2, 6)
