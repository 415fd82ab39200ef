"""Kafka's contract, checked on every transport: subclass `TransportContract` with a `transport` fixture.

Partitions by key, consumer groups that each see every record, members sharing a group's partitions, and
at-least-once delivery: a group resumes from its commit.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest

from eventing.binding import decode
from eventing.events import make_event
from eventing.transport import Record


def events(key: str | None, count: int, start: int = 0) -> list[Any]:
    return [make_event("t", "/test", {"n": n}, key=key) for n in range(start, start + count)]


def numbers(records: list[Record]) -> list[int]:
    return [msgspec.json.decode(decode(r.headers, r.key, r.value).get_data())["n"] for r in records]


@pytest.fixture
def topic() -> str:
    """A topic of the test's own (a durable transport's tables outlive the test)."""
    return f"t-{uuid.uuid4().hex[:8]}"


class TransportContract:
    def test_one_key_stays_in_order_on_one_partition(self, transport: Any, topic: str) -> None:
        transport.publish(topic, events("device-001", 50))
        records = transport.consumer(topic, "g").poll(100, 0)
        assert len({r.partition for r in records}) == 1
        assert numbers(records) == list(range(50))

    def test_records_without_a_key_are_spread(self, transport: Any, topic: str) -> None:
        transport.publish(topic, events(None, 8))
        assert len({r.partition for r in transport.consumer(topic, "g").poll(100, 0)}) > 1

    def test_every_group_sees_every_record(self, transport: Any, topic: str) -> None:
        a, b = transport.consumer(topic, "a"), transport.consumer(topic, "b")
        transport.publish(topic, events("k1", 3) + events("k2", 3))
        assert len(a.poll(100, 0)) == 6 and len(b.poll(100, 0)) == 6

    def test_uncommitted_records_are_delivered_again_to_the_next_consumer(self, transport: Any, topic: str) -> None:
        first = transport.consumer(topic, "g")
        transport.publish(topic, events("k", 10))
        batch = first.poll(4, 0)
        first.commit(batch)
        first.poll(100, 0)  # taken but never committed: the consumer "crashed"
        again = transport.consumer(topic, "g").poll(100, 0)
        assert numbers(again) == list(range(4, 10))

    def test_lag_counts_what_a_member_has_not_polled(self, transport: Any, topic: str) -> None:
        consumer = transport.consumer(topic, "g")
        transport.publish(topic, events("k", 7))
        assert consumer.lag() == 7
        consumer.poll(3, 0)
        assert consumer.lag() == 4

    def test_poll_waits_for_records_and_times_out(self, transport: Any, topic: str) -> None:
        assert transport.consumer(topic, "g").poll(10, 0.05) == []

    def test_records_every_group_committed_are_dropped(self, transport: Any, topic: str) -> None:
        a, b = transport.consumer(topic, "a"), transport.consumer(topic, "b")
        transport.publish(topic, events("k", 5))
        a.commit(a.poll(100, 0))
        assert len(transport.records(topic)) == 5  # b has not committed yet
        b.commit(b.poll(100, 0))
        assert transport.records(topic) == []

    def test_members_of_a_group_share_the_partitions(self, transport: Any, topic: str) -> None:
        members = [transport.consumer(topic, "g", member, 2) for member in range(2)]
        transport.publish(topic, [e for key in ("a", "b", "c", "d", "e", "f") for e in events(key, 5)])
        taken = [member.poll(100, 0) for member in members]
        assert sum(len(records) for records in taken) == 30
        assert not {r.partition for r in taken[0]} & {r.partition for r in taken[1]}

    def test_pending_counts_and_reads_what_a_group_has_not_committed(self, transport: Any, topic: str) -> None:
        transport.publish(topic, events("k", 6))
        count, records = transport.pending(topic, "g", 4)  # a group that never read: everything
        assert (count, numbers(records)) == (6, [0, 1, 2, 3])
        consumer = transport.consumer(topic, "g")
        consumer.commit(consumer.poll(2, 0))
        count, records = transport.pending(topic, "g", 100)
        assert (count, numbers(records)) == (4, [2, 3, 4, 5])
        assert transport.pending(topic, "g", 0)[0] == 4
        assert consumer.poll(100, 0) and transport.pending(topic, "g", 100)[0] == 4  # reading it changed nothing
