"""The Kafka transport, on confluent-kafka.

The producer is idempotent (no duplicates from its own retries) and
`publish` returns only when every record's delivery report is in, so a
function that returns has really handed its events on. Consumers never
auto-commit: the router commits after the function has succeeded.

Credentials come from the environment (`security`): KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and
KAFKA_SSL_CA_LOCATION. Unset, clients connect without authentication, as
before; in the cluster each workload has its own SCRAM user (knative/).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cloudevents.http import CloudEvent
from confluent_kafka import Consumer as _KafkaConsumer
from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # NewTopic is there, not in its __all__

from eventing.binding import encode
from eventing.transport import DeliveryError, Record

log = logging.getLogger(__name__)

# A record Kafka has not acknowledged after this fails (librdkafka waits 5 minutes): with Kafka gone a
# publish fails within seconds and its caller retries (POST /api/readings answers 503).
MESSAGE_TIMEOUT_S = 5.0
CHUNK = 100  # records a poll takes from the consumer's queue at a time
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
    "batch.size": 1_000_000,
    "message.timeout.ms": int(MESSAGE_TIMEOUT_S * 1000),
}
CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "fetch.max.bytes": 16_000_000,
    # A member that stops heartbeating (killed, frozen, cut off) loses its partitions to the live ones
    # after 10 s, not librdkafka's 45 s; brokers accept 6 s to 30 min (group.min/max.session.timeout.ms).
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 3_000,  # a third of the session, as Kafka advises
}


SECURITY_SETTINGS = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}


def security(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The clients' authentication settings from the environment (none set: none). With a SASL mechanism the
    protocol defaults to SASL_SSL and a username and password are required; ValueError names what is missing."""
    config = {key: value for name, key in SECURITY_SETTINGS.items() if (value := environ.get(name, "").strip())}
    if environ.get("KAFKA_SASL_PASSWORD"):  # a password is taken as it is, spaces at its ends too
        config["sasl.password"] = environ["KAFKA_SASL_PASSWORD"]
    if "sasl.mechanism" in config:
        config.setdefault("security.protocol", "SASL_SSL")
        if missing := [n for n in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD") if not environ.get(n)]:
            raise ValueError(f"KAFKA_SASL_MECHANISM is set but {' and '.join(missing)} not: set both")
    return config


class Pending:
    """One publish's records awaiting their delivery reports (served on the transport's poller thread)."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.failures: list[str] = []
        self.done = threading.Event()
        if count == 0:
            self.done.set()

    def report(self, error: KafkaError | None, _message: Any) -> None:
        self.left -= 1  # only the poller thread runs reports
        if error is not None:
            self.failures.append(str(error))
        if self.left <= 0:
            self.done.set()


class KafkaTransport:
    def __init__(self, bootstrap_servers: str, client_id: str = "iotmon", **config: Any) -> None:
        self.bootstrap_servers = bootstrap_servers
        # librdkafka's own log lines go through Python logging, so they are structured too.
        self._base: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": client_id,
            "logger": logging.getLogger("librdkafka"),
            **security(),
        }
        self._producer: Producer | None = Producer({**self._base, **PRODUCER_DEFAULTS, **config})
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._poll, name=f"kafka-reports:{client_id}", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        """Serve delivery reports (and librdkafka's logs) until closed."""
        while not self._closing.is_set() and (producer := self._producer) is not None:
            producer.poll(0.1)

    def _live(self) -> Producer:
        if self._producer is None:
            raise DeliveryError("the Kafka transport is closed")
        return self._producer

    def publish(self, topic: str, events: Sequence[CloudEvent], timeout: float = MESSAGE_TIMEOUT_S + 1) -> None:
        """Every record delivered, or DeliveryError: by `timeout` each has failed or arrived (the default).

        Each call waits for its own records' delivery reports only, so concurrent callers (a function
        server's request threads) share the producer's batches instead of queueing behind each other's
        flushes. One thread polls the producer for every caller."""
        producer = self._live()
        pending = Pending(len(events))
        for event in events:
            message = encode(event)
            headers: list[tuple[str, str | bytes | None]] = list(message.headers.items())
            while True:
                try:
                    producer.produce(topic, message.value, message.key, headers=headers, on_delivery=pending.report)
                    break
                except BufferError:  # local queue full: wait for the poller to drain it
                    time.sleep(0.01)
        if not pending.done.wait(timeout) or pending.failures:
            raise DeliveryError(
                f"Kafka did not take {len(pending.failures) or pending.left} event(s) on {topic!r}: "
                f"{pending.failures[:3]}"
            )

    def consumer(self, topic: str, group: str, member: int = 0, members: int = 1) -> KafkaConsumer:
        # Kafka's group protocol spreads the partitions over the members itself.
        return KafkaConsumer({**self._base, **CONSUMER_DEFAULTS, "group.id": group}, topic)

    def pending(self, topic: str, group: str, limit: int, timeout: float = 10.0) -> tuple[int, list[Record]]:
        # Assigned, not subscribed: reading the group's offsets joins no group, so nobody is rebalanced.
        reader = _KafkaConsumer({**self._base, **CONSUMER_DEFAULTS, "group.id": group})
        try:
            found = reader.list_topics(topic, timeout=timeout).topics.get(topic)
            if found is None or found.error is not None:
                return 0, []  # no such topic yet: nothing was ever dead-lettered
            committed = reader.committed([TopicPartition(topic, p) for p in found.partitions], timeout=timeout)
            starts: dict[int, int] = {}
            ends: dict[int, int] = {}
            for position in committed:
                low, high = reader.get_watermark_offsets(position, timeout=timeout)
                start = max(low, position.offset)  # no commit yet: offset is negative, so from the oldest kept
                if high > start:
                    starts[position.partition], ends[position.partition] = start, high
            return sum(ends[p] - starts[p] for p in starts), self._read(reader, topic, starts, ends, limit, timeout)
        finally:
            reader.close()

    @staticmethod
    def _read(
        reader: _KafkaConsumer, topic: str, starts: dict[int, int], ends: dict[int, int], limit: int, timeout: float
    ) -> list[Record]:
        """Up to `limit` records from `starts` to `ends` per partition."""
        if not starts or limit <= 0:
            return []
        reader.assign([TopicPartition(topic, partition, offset) for partition, offset in starts.items()])
        records: list[Record] = []
        open_, deadline = set(starts), time.monotonic() + timeout
        while open_ and len(records) < limit and time.monotonic() < deadline:
            for message in reader.consume(min(500, limit - len(records)), timeout=0.5):
                if message.error() is None and message.partition() in open_:
                    records.append(_record(message, topic))
                    if (message.offset() or 0) + 1 >= ends[message.partition() or 0]:
                        open_.discard(message.partition() or 0)
        return sorted(records, key=lambda record: (record.partition, record.offset))[:limit]

    def ensure_topics(self, names: Sequence[str], partitions: int = 4, timeout: float = 30.0) -> None:
        """Create the topics that are missing (local runs; a cluster declares KafkaTopics)."""
        admin = AdminClient(self._base)
        existing = set(admin.list_topics(timeout=timeout).topics)
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=-1) for name in names if name not in existing
        ]
        for future in (admin.create_topics(missing) if missing else {}).values():
            try:
                future.result(timeout)
            except KafkaException as error:
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    def check(self, timeout: float = 2.0) -> None:
        self._live().list_topics(timeout=timeout)

    def close(self) -> None:
        """Deliver what is queued and disconnect; safe to call twice."""
        if self._producer is not None:
            self._closing.set()
            self._poller.join()
            self._producer.flush(10)
            self._producer.close()
            self._producer = None


class KafkaConsumer:
    def __init__(self, config: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self._consumer = _KafkaConsumer(config)
        self._revoked: Callable[[list[int]], None] | None = None
        self._consumer.subscribe([topic], on_revoke=self._revoke)

    def _revoke(self, _consumer: _KafkaConsumer, partitions: list[TopicPartition]) -> None:
        if self._revoked is not None:
            self._revoked([position.partition for position in partitions])

    def on_revoke(self, callback: Callable[[list[int]], None]) -> None:
        self._revoked = callback

    def poll(self, max_records: int, timeout: float, max_bytes: int | None = None) -> list[Record]:
        """Wait up to `timeout` for a first record, then take what else is there already, up to `max_records`
        and about `max_bytes` (a chunk of CHUNK records past it at most).

        (`consume` alone waits for the whole timeout unless the batch fills,
        which would add its timeout to every event's latency.)
        """
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        messages, size = [first], len(first.value() or b"")
        while len(messages) < max_records and (max_bytes is None or size < max_bytes):
            more = self._consumer.consume(num_messages=min(CHUNK, max_records - len(messages)), timeout=0)
            if not more:
                break
            messages += more
            size += sum(len(message.value() or b"") for message in more)
        batch: list[Record] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("kafka consumer error", extra={"topic": self.topic, "error": str(error)})
                continue
            batch.append(_record(message, self.topic))
        return batch

    def lag(self) -> int:
        behind = 0
        for position in self._consumer.position(self._consumer.assignment()):
            low, high = self._consumer.get_watermark_offsets(position, timeout=1)
            behind += max(0, high - (position.offset if position.offset >= 0 else low))  # not started: all of it
        return behind

    def commit(self, records: Sequence[Record]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for record in records:
            position = (record.topic, record.partition)
            next_offsets[position] = max(next_offsets.get(position, 0), record.offset + 1)
        if next_offsets:
            offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()]
            self._consumer.commit(offsets=offsets, asynchronous=False)

    def close(self) -> None:
        self._consumer.close()


def _record(message: Message, topic: str) -> Record:
    return Record(
        topic=message.topic() or topic,
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=_bytes(message.key()),
        headers=_headers(message.headers()),
        value=_bytes(message.value()),
    )


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _headers(
    headers: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> tuple[tuple[str, bytes], ...]:
    pairs = headers.items() if isinstance(headers, dict) else headers or []
    return tuple((name, _bytes(value) or b"") for name, value in pairs)
