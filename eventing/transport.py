"""What every transport offers: the contract shared by Kafka and in-process.

Topics with partitions chosen by record key (so one key stays in order),
consumer groups that each see every record, and at-least-once delivery: a
record is delivered again until its group commits past it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cloudevents.http import CloudEvent


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes | None


def partition_for(key: bytes | None, partitions: int, spread: Iterator[int]) -> int:
    """Kafka's rule: one key always goes to one partition; records without a key are spread round robin."""
    return next(spread) % partitions if key is None else zlib.crc32(key) % partitions


class Publisher(Protocol):
    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Send events and return once the transport has them durably; raises on failure."""


class Consumer(Protocol):
    topic: str

    def poll(self, max_records: int, timeout: float, max_bytes: int | None = None) -> list[Record]:
        """Up to `max_records` (and about `max_bytes` of values), waiting up to `timeout` for a first one."""

    def lag(self) -> int:
        """Records on this member's partitions not yet polled."""

    def commit(self, records: Sequence[Record]) -> None:
        """Mark these records (and all before them in their partitions) as done."""

    def on_revoke(self, callback: Callable[[list[int]], None]) -> None:
        """Call `callback` with the partitions taken from this member (inside `poll`, before another member
        gets them), so that it can finish and commit their records first."""

    def close(self) -> None: ...


class Transport(Publisher, Protocol):
    def consumer(self, topic: str, group: str, member: int = 0, members: int = 1) -> Consumer:
        """Member `member` of `members` in a consumer group; the group's members share the partitions."""

    def pending(self, topic: str, group: str, limit: int) -> tuple[int, list[Record]]:
        """How many records `group` has not committed yet on `topic`, and the oldest `limit` of them, read
        without joining the group (so its members are not disturbed)."""

    def check(self) -> None:
        """Raise if the transport cannot be reached (health checks)."""

    def close(self) -> None: ...


class PositionedLog(Protocol):
    """A transport that keeps its consumer groups itself (in memory, in PostgreSQL), read from positions."""

    def read_from(self, topic: str, positions: dict[int, int], max_records: int, timeout: float) -> list[Record]:
        """Up to `max_records` from the positions on, waiting up to `timeout` for a first one."""

    def lag_from(self, topic: str, positions: dict[int, int]) -> int: ...

    def commit_for(self, group: str, topic: str, records: Sequence[Record]) -> None: ...


class GroupMember:
    """One member of a consumer group on a `PositionedLog`, with its partitions' positions."""

    def __init__(self, log: PositionedLog, topic: str, group: str, positions: dict[int, int]) -> None:
        self._log = log
        self.topic = topic
        self.group = group
        self._positions = positions

    def poll(self, max_records: int, timeout: float, max_bytes: int | None = None) -> list[Record]:
        batch = within_bytes(self._log.read_from(self.topic, self._positions, max_records, timeout), max_bytes)
        for record in batch:
            self._positions[record.partition] = record.offset + 1
        return batch

    def commit(self, records: Sequence[Record]) -> None:
        self._log.commit_for(self.group, self.topic, records)

    def lag(self) -> int:
        return self._log.lag_from(self.topic, self._positions)

    def on_revoke(self, callback: Callable[[list[int]], None]) -> None:
        pass  # a member's partitions are fixed for its life: none is ever taken

    def close(self) -> None:
        pass


def within_bytes(records: list[Record], max_bytes: int | None) -> list[Record]:
    """The first records whose values add up to at most `max_bytes` (always the first one)."""
    if max_bytes is None:
        return records
    total = 0
    for taken, record in enumerate(records):
        total += len(record.value or b"")
        if total > max_bytes and taken:
            return records[:taken]
    return records


class DeliveryError(RuntimeError):
    """The transport did not accept an event; the caller should retry."""


WAITING_SAMPLE = 64  # pending records looked at per feed: one or more per partition of a busy topic


def waiting_s(transport: Transport, feeds: Iterable[tuple[str, str]], now: datetime) -> float:
    """How long the oldest event that a consumer group has not handled yet has waited since it was made (its
    CloudEvent time), over (topic, group) feeds; 0 when every group is caught up. The oldest among a sample of
    the pending records: Kafka hands them over partition by partition."""
    oldest = now
    for topic, group in feeds:
        _, records = transport.pending(topic, group, WAITING_SAMPLE)
        for record in records:
            made = _event_time(record)
            if made is not None and made < oldest:
                oldest = made
    return (now - oldest).total_seconds()


def _event_time(record: Record) -> datetime | None:
    for name, value in record.headers:
        if name == "ce_time":
            try:
                return datetime.fromisoformat(value.decode())
            except ValueError:
                return None
    return None
