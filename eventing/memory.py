"""The in-process transport: Kafka's contract without a broker, in memory.

Used by unit tests and by tools that need no durability (the embedded run
uses eventing.postgres, which keeps what it accepts). Records are the same binary-mode
CloudEvents the Kafka transport carries; topics have partitions chosen by key,
each consumer group keeps committed offsets, and a consumer that starts again
resumes from its group's commit, so uncommitted records are delivered again
(at-least-once). Records every subscribed group has committed are dropped.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Sequence

from cloudevents.http import CloudEvent

from eventing.binding import encode
from eventing.transport import GroupMember, Record, partition_for

UNCONSUMED_LIMIT = 200_000  # per partition, while no group has subscribed yet


class _Partition:
    def __init__(self) -> None:
        self.base = 0  # offset of records[0]
        self.records: list[Record] = []

    @property
    def end(self) -> int:
        return self.base + len(self.records)

    def read(self, start: int, limit: int) -> list[Record]:
        first = max(start, self.base) - self.base
        return self.records[first : first + limit]

    def drop_before(self, offset: int) -> None:
        if offset > self.base:
            del self.records[: offset - self.base]
            self.base = offset


class MemoryTransport:
    def __init__(self, partitions: int = 4) -> None:
        self.partitions = partitions
        self._changed = threading.Condition()
        self._topics: dict[str, list[_Partition]] = {}
        self._committed: dict[tuple[str, str], list[int]] = {}  # (group, topic) -> next offset per partition
        self._groups: dict[str, set[str]] = defaultdict(set)  # topic -> groups
        self._spread = itertools.count()

    def _topic(self, name: str) -> list[_Partition]:
        if name not in self._topics:
            self._topics[name] = [_Partition() for _ in range(self.partitions)]
        return self._topics[name]

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        messages = [encode(event) for event in events]
        with self._changed:
            partitions = self._topic(topic)
            for message in messages:
                number = partition_for(message.key, self.partitions, self._spread)
                partition = partitions[number]
                headers = tuple((name, value) for name, value in message.headers.items())
                partition.records.append(Record(topic, number, partition.end, message.key, headers, message.value))
                if not self._groups[topic] and len(partition.records) > UNCONSUMED_LIMIT:
                    partition.drop_before(partition.end - UNCONSUMED_LIMIT)
            self._changed.notify_all()

    def consumer(self, topic: str, group: str, member: int = 0, members: int = 1) -> GroupMember:
        """A group member reading partitions member, member + members, … (a static assignment)."""
        with self._changed:
            self._topic(topic)
            self._groups[topic].add(group)
            committed = self._committed.setdefault((group, topic), [0] * self.partitions)
            assigned = range(member, self.partitions, members)
            return GroupMember(self, topic, group, {number: committed[number] for number in assigned})

    def records(self, topic: str) -> list[Record]:
        """Every record still held on a topic, oldest first per partition (for tests and tools)."""
        with self._changed:
            return [record for partition in self._topic(topic) for record in partition.records]

    def pending(self, topic: str, group: str, limit: int) -> tuple[int, list[Record]]:
        with self._changed:
            committed = self._committed.get((group, topic), [0] * self.partitions)
            partitions = self._topic(topic)
            count = sum(
                max(0, partition.end - max(committed[n], partition.base)) for n, partition in enumerate(partitions)
            )
            records = [
                record for n, partition in enumerate(partitions) for record in partition.read(committed[n], limit)
            ]
        return count, sorted(records, key=lambda record: (record.partition, record.offset))[:limit]

    def read_from(self, topic: str, positions: dict[int, int], max_records: int, timeout: float) -> list[Record]:
        with self._changed:
            partitions = self._topic(topic)
            if all(partitions[n].end <= position for n, position in positions.items()):
                self._changed.wait(timeout)
            batch: list[Record] = []
            for number, position in positions.items():
                batch.extend(partitions[number].read(position, max_records - len(batch)))
                if len(batch) >= max_records:
                    break
            return batch

    def lag_from(self, topic: str, positions: dict[int, int]) -> int:
        with self._changed:
            partitions = self._topic(topic)
            return sum(max(0, partitions[n].end - position) for n, position in positions.items())

    def commit_for(self, group: str, topic: str, records: Sequence[Record]) -> None:
        with self._changed:
            committed = self._committed[(group, topic)]
            for record in records:
                committed[record.partition] = max(committed[record.partition], record.offset + 1)
            self._prune(topic)

    def _prune(self, topic: str) -> None:
        groups = [self._committed[(group, topic)] for group in self._groups[topic]]
        for number, partition in enumerate(self._topic(topic)):
            partition.drop_before(min(offsets[number] for offsets in groups))

    def check(self) -> None:
        """Always reachable: it lives in this process."""

    def close(self) -> None:
        with self._changed:
            self._changed.notify_all()
