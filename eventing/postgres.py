"""Kafka's contract on PostgreSQL: the embedded run's durable transport.

`iotmon up` has no broker, yet a 202 must mean the readings are safe. Here a
record is a row of `event_log` (schema/009_event_log.sql), committed before
`publish` returns, and each consumer group's next offset per partition is a
row of `event_offsets`: after a crash at any instant a group resumes from its
commit, so what was accepted is delivered at least once, as with Kafka.

Offsets are the rows' ids. A publisher holds an advisory lock on each
partition it writes until it commits, so a partition's rows become visible in
id order and a consumer reading `id >= position` never skips one that commits
late. Rows every group of the topic has committed are deleted; a topic no group
reads (a dead-letter topic, until it is replayed) keeps its newest
UNCONSUMED_LIMIT records per partition. A publish wakes this process's
consumers at once; a publish from another process (`iotmon dlq replay`) is
seen at the next poll.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing.binding import encode
from eventing.transport import GroupMember, Record, partition_for

UNCONSUMED_LIMIT = 200_000  # per partition of a topic no consumer group reads
WAIT_S = 1.5  # for a pooled connection
PRUNE_EVERY_S = 1.0  # deleting consumed rows is batched: at most once a second per topic
_LOCK_SEED = 7_301_009  # namespaces this module's advisory locks

# Parameters in binary (%b): a bytea array in text is hex-escaped item by item in Python, which cost more than
# the rest of a publish; in binary each value goes as it is.
_INSERT = """
INSERT INTO event_log (topic, partition, key, headers, value)
SELECT %s, * FROM unnest(%b::smallint[], %b::bytea[], %b::bytea[], %b::bytea[])
"""
# A member's next records: up to `limit` from each of its partitions from its position, oldest first.
_READ = """
SELECT e.partition, e.id, e.key, e.headers, e.value
FROM unnest(%(partitions)s::smallint[], %(positions)s::bigint[]) AS p (partition, position)
CROSS JOIN LATERAL (
  SELECT partition, id, key, headers, value FROM event_log
  WHERE topic = %(topic)s AND partition = p.partition AND id >= p.position ORDER BY id LIMIT %(limit)s
) e
ORDER BY e.id LIMIT %(limit)s
"""
_LAG = """
SELECT count(*) FROM unnest(%(partitions)s::smallint[], %(positions)s::bigint[]) AS p (partition, position)
JOIN event_log e ON e.topic = %(topic)s AND e.partition = p.partition AND e.id >= p.position
"""
_JOIN = """
INSERT INTO event_offsets (consumer_group, topic, partition, next_offset)
SELECT %(group)s, %(topic)s, p, 0 FROM unnest(%(partitions)s::smallint[]) AS p
ON CONFLICT DO NOTHING
"""
_COMMIT = """
INSERT INTO event_offsets (consumer_group, topic, partition, next_offset)
SELECT %(group)s, %(topic)s, * FROM unnest(%(partitions)s::smallint[], %(positions)s::bigint[])
ON CONFLICT (topic, consumer_group, partition)
DO UPDATE SET next_offset = greatest(event_offsets.next_offset, excluded.next_offset)
"""
_BACKLOG = """
SELECT o.topic, o.consumer_group, count(e.id) FROM event_offsets o
LEFT JOIN event_log e ON e.topic = o.topic AND e.partition = o.partition AND e.id >= o.next_offset
GROUP BY o.topic, o.consumer_group
"""
# What a group has not committed yet: from its offsets (from the start where it has none).
_PENDING = """
WITH starts AS (
  SELECT p AS partition, coalesce(o.next_offset, 0) AS start FROM generate_series(0, %(partitions)s - 1) AS p
  LEFT JOIN event_offsets o ON o.topic = %(topic)s AND o.consumer_group = %(group)s AND o.partition = p
)
SELECT e.partition, e.id, e.key, e.headers, e.value, count(*) OVER () FROM starts s
JOIN event_log e ON e.topic = %(topic)s AND e.partition = s.partition AND e.id >= s.start
ORDER BY e.id LIMIT greatest(%(limit)s, 1)
"""
# Consumed rows go once every group has committed past them; without a group, all but the newest.
_PRUNE_CONSUMED = """
DELETE FROM event_log e USING (
  SELECT partition, min(next_offset) AS upto FROM event_offsets WHERE topic = %(topic)s GROUP BY partition
) done
WHERE e.topic = %(topic)s AND e.partition = done.partition AND e.id < done.upto
"""
_PRUNE_UNCONSUMED = """
DELETE FROM event_log e USING (
  SELECT p AS partition, (
    SELECT id FROM event_log WHERE topic = %(topic)s AND partition = p ORDER BY id DESC OFFSET %(keep)s LIMIT 1
  ) AS upto FROM generate_series(0, %(partitions)s - 1) AS p
) old
WHERE e.topic = %(topic)s AND e.partition = old.partition AND e.id <= old.upto
"""

_headers = msgspec.msgpack.Decoder(list[tuple[str, bytes]])


class PostgresTransport:
    def __init__(
        self, url: str, partitions: int = 4, max_connections: int = 8, prune_every_s: float = PRUNE_EVERY_S
    ) -> None:
        self.partitions = partitions
        self.prune_every_s = prune_every_s
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": 2},
            open=True,
            name="event-log",
            # While PostgreSQL is away a publish fails within WAIT_S (POST /api/readings answers 503), and the
            # pool replaces dead connections by itself once it is back.
            timeout=WAIT_S,
            reconnect_timeout=10.0,
            check=ConnectionPool.check_connection,
        )
        self._published = threading.Condition()
        self._generation = 0  # bumped by every publish in this process, to wake its consumers
        self._spread = itertools.count()
        self._pruned_at: dict[str, float] = {}

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """Returns once the events are committed: durable, and visible to every consumer group."""
        rows = [self._row(event) for event in events]
        if not rows:
            return
        # One round trip: the locks, the insert and the commit go out together (pipeline mode).
        with self._pool.connection() as conn, conn.pipeline(), conn.transaction():
            for partition in sorted({partition for partition, *_ in rows}):  # in order: no deadlock
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", (f"{topic}/{partition}", _LOCK_SEED)
                )
            conn.execute(_INSERT, (topic, *map(list, zip(*rows, strict=True))))
        with self._published:
            self._generation += 1
            self._published.notify_all()
        self._maybe_prune(topic)

    def _row(self, event: CloudEvent) -> tuple[int, bytes | None, bytes, bytes]:
        message = encode(event)
        headers = msgspec.msgpack.encode(list(message.headers.items()))
        return partition_for(message.key, self.partitions, self._spread), message.key, headers, message.value

    def consumer(self, topic: str, group: str, member: int = 0, members: int = 1) -> GroupMember:
        """A group member reading partitions member, member + members, … (a static assignment), from the group's
        commit; a new group starts at the oldest record kept."""
        assigned = list(range(member, self.partitions, members))
        params = {"group": group, "topic": topic, "partitions": assigned}
        with self._pool.connection() as conn:
            conn.execute(_JOIN, params)
            committed = conn.execute(
                "SELECT partition, next_offset FROM event_offsets"
                " WHERE consumer_group = %(group)s AND topic = %(topic)s AND partition = ANY(%(partitions)s)",
                params,
            ).fetchall()
        return GroupMember(self, topic, group, dict(committed))

    def records(self, topic: str) -> list[Record]:
        """Every record still kept on a topic, oldest first per partition (for tests and tools)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT partition, id, key, headers, value FROM event_log WHERE topic = %s ORDER BY partition, id",
                (topic,),
            ).fetchall()
        return [_record(topic, row) for row in rows]

    def pending(self, topic: str, group: str, limit: int) -> tuple[int, list[Record]]:
        params = {"topic": topic, "group": group, "partitions": self.partitions, "limit": limit}
        with self._pool.connection() as conn:
            rows = conn.execute(_PENDING, params).fetchall()
        count = int(rows[0][-1]) if rows else 0
        return count, [_record(topic, row[:-1]) for row in rows[:limit]]

    def backlog(self) -> dict[tuple[str, str], int]:
        """Records each (topic, consumer group) has not committed yet: what is accepted and still to handle."""
        with self._pool.connection() as conn:
            rows = conn.execute(_BACKLOG).fetchall()
        return {(topic, group): int(count) for topic, group, count in rows}

    def check(self) -> None:
        with self._pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        with self._published:
            self._published.notify_all()
        self._pool.close()

    # What GroupMember calls

    def read_from(self, topic: str, positions: dict[int, int], max_records: int, timeout: float) -> list[Record]:
        with self._published:
            seen = self._generation
        batch = self._read(topic, positions, max_records)
        if batch or timeout <= 0:
            return batch
        with self._published:
            if self._generation == seen:
                self._published.wait(timeout)
        return self._read(topic, positions, max_records)

    def _read(self, topic: str, positions: dict[int, int], limit: int) -> list[Record]:
        with self._pool.connection() as conn:
            # binary results: values come back as they went in, not hex to be decoded
            rows = conn.execute(_READ, {"topic": topic, **_columns(positions), "limit": limit}, binary=True).fetchall()
        return [_record(topic, row) for row in rows]

    def lag_from(self, topic: str, positions: dict[int, int]) -> int:
        with self._pool.connection() as conn:
            (count,) = conn.execute(_LAG, {"topic": topic, **_columns(positions)}).fetchone() or (0,)
        return int(count)

    def commit_for(self, group: str, topic: str, records: Iterable[Record]) -> None:
        upto: dict[int, int] = {}
        for record in records:
            upto[record.partition] = max(upto.get(record.partition, 0), record.offset + 1)
        if not upto:
            return
        with self._pool.connection() as conn:
            conn.execute(_COMMIT, {"group": group, "topic": topic, **_columns(upto)})
        self._maybe_prune(topic)

    def _maybe_prune(self, topic: str) -> None:
        now = time.monotonic()
        if now - self._pruned_at.get(topic, -self.prune_every_s) < self.prune_every_s:
            return
        self._pruned_at[topic] = now
        params = {"topic": topic, "keep": UNCONSUMED_LIMIT, "partitions": self.partitions}
        with self._pool.connection() as conn:
            consumed = conn.execute("SELECT 1 FROM event_offsets WHERE topic = %s LIMIT 1", (topic,)).fetchone()
            conn.execute(_PRUNE_CONSUMED if consumed else _PRUNE_UNCONSUMED, params)


def _columns(positions: dict[int, int]) -> dict[str, Any]:
    return {"partitions": list(positions), "positions": list(positions.values())}


def _record(topic: str, row: tuple[Any, ...]) -> Record:
    partition, offset, key, headers, value = row
    return Record(topic, partition, offset, key, tuple(_headers.decode(headers)), value)
