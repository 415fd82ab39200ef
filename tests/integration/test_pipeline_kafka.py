"""The pipeline on a real Kafka broker: sensors-data → router → ingest → PostgreSQL, metrics and the DLQ."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
import pytest
from cloudevents.http import CloudEvent
from confluent_kafka import Producer

from eventing import topics
from eventing.binding import decode
from eventing.events import batch_event, make_event, reading_event
from eventing.kafka import KafkaTransport
from eventing.router import Router
from eventing.wiring import load_wiring
from functions.ingest import Ingest
from iotmon.adapters.postgres import db
from tests.support.devices import register_in
from tests.support.waiting import wait_for

pytestmark = pytest.mark.kafka


def now_minus(seconds: float) -> str:
    at = datetime.now(UTC) - timedelta(seconds=seconds)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reading(device: str, seconds_ago: float, value: float = 42.0) -> dict:
    return {
        "deviceId": device,
        "timestamp": now_minus(seconds_ago),
        "sensorType": "pressure",
        "value": value,
        "unit": "psi",
    }


def stored(url: str, device_prefix: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM sensor_readings WHERE device_id LIKE %s", (device_prefix + "%",)
        ).fetchone()[0]


def collect(
    transport: KafkaTransport,
    topic: str,
    group: str,
    wanted: Callable[[CloudEvent], bool],
    enough: Callable[[list[CloudEvent]], bool],
    timeout: float = 30.0,
) -> list[CloudEvent]:
    """The events on `topic` (from the start, in a group of the test's own) that `wanted` picks, read until
    `enough` says they are all there."""
    consumer = transport.consumer(topic, group)
    found: list[CloudEvent] = []

    def more() -> bool:
        for record in consumer.poll(100, 0.5):
            event = decode(record.headers, record.key, record.value)
            if wanted(event):
                found.append(event)
        return enough(found)

    try:
        wait_for(more, timeout, what=lambda: f"the wanted events on {topic} (found {len(found)})")
    finally:
        consumer.close()
    return found


@pytest.fixture
def transport(kafka_bootstrap):
    kafka = KafkaTransport(kafka_bootstrap, "test")
    yield kafka
    kafka.close()


class Delivered:
    """ingest as the router calls it, remembering the events it handled."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.ids: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, events: Sequence[CloudEvent]) -> None:
        self.ingest(events)
        with self._lock:
            self.ids |= {event["id"] for event in events}

    def handled(self, ids: set[str]) -> bool:
        with self._lock:
            return ids <= self.ids


@contextmanager
def running_router(transport: KafkaTransport, database_url: str, group_suffix: str) -> Iterator[Delivered]:
    """The manifests' wiring of ingest, with a consumer group of this test's own (the broker is shared)."""
    wiring = load_wiring()
    subscriptions = tuple(
        replace(s, group=f"{s.group}-{group_suffix}") for s in wiring.subscriptions if s.function == "ingest"
    )
    with db.pool(database_url) as pool:
        delivered = Delivered(Ingest(pool, transport))
        wired = replace(wiring, subscriptions=subscriptions, schedules=())
        router = Router(transport, wired, {"ingest": delivered}).start()
        try:
            yield delivered
        finally:
            router.stop()


def test_readings_flow_to_postgres_metrics_and_the_dead_letter_topic(transport, clean_db):
    run = uuid.uuid4().hex[:8]
    device = f"k-{run}-"
    good = [reading(f"{device}{n % 3}", n) for n in range(30)]
    register_in(clean_db, *(f"{device}{n}" for n in range(3)))
    with running_router(transport, clean_db, run):
        transport.publish(topics.SENSORS_DATA, [reading_event(r, "/test") for r in good[:10]])
        transport.publish(topics.SENSORS_DATA, [batch_event(good[10:], "/gateway", key="gw-1")])
        transport.publish(topics.SENSORS_DATA, [reading_event({**reading(f"{device}0", 100), "value": "NaN"}, "/test")])
        wait_for(lambda: stored(clean_db, device) == 30)

        def ours(event: CloudEvent) -> bool:
            return device in str(event.get_data())

        def forwarded(events: list[CloudEvent]) -> list[dict]:
            return [r for e in events for r in msgspec.json.decode(e.get_data())["readings"]]

        letters = collect(transport, topics.SENSORS_DATA_DLQ, f"dlq-{run}", ours, lambda found: len(found) >= 1)
        metrics = collect(
            transport, topics.METRICS, f"metrics-{run}", ours, lambda found: len(forwarded(found)) >= len(good)
        )
    assert len(letters) == 1
    assert "$.value" in msgspec.json.decode(letters[0].get_data())["reason"]
    assert sorted(r["timestamp"] for r in forwarded(metrics)) == sorted(r["timestamp"] for r in good)


def test_redelivery_after_a_crash_stores_nothing_twice(transport, clean_db, pool):
    run = uuid.uuid4().hex[:8]
    device = f"r-{run}"
    readings = [reading(device, n) for n in range(50)]
    register_in(clean_db, device)
    transport.publish(topics.SENSORS_DATA, [batch_event(readings, "/gateway", key=device)])
    # A first consumer stores the batch but "crashes" before committing its offset.
    ingest = Ingest(pool, transport)
    crashed = transport.consumer(topics.SENSORS_DATA, f"ingest-{run}")
    records = []
    wait_for(lambda: records.extend(crashed.poll(500, 0.5)) or any(r.key == device.encode() for r in records))
    taken = [decode(r.headers, r.key, r.value) for r in records if r.key == device.encode()]
    ingest(taken)
    crashed.close()
    assert stored(clean_db, device) == 50
    # The group's next member gets the same records again, and ingest handles them again.
    with running_router(transport, clean_db, run) as delivered:
        wait_for(lambda: delivered.handled({event["id"] for event in taken}), what="the batch delivered again")
    assert stored(clean_db, device) == 50


def test_offsets_are_committed_only_after_the_function_succeeded(transport, clean_db):
    run = uuid.uuid4().hex[:8]
    device = f"c-{run}"
    transport.publish(topics.SENSORS_DATA, [reading_event(reading(device, 1), "/test")])
    group = f"commit-{run}"
    consumer = transport.consumer(topics.SENSORS_DATA, group)
    wanted = []
    wait_for(lambda: wanted.extend(r for r in consumer.poll(500, 0.5) if r.key == device.encode()) or wanted)
    consumer.close()  # handler "failed": nothing committed
    again = transport.consumer(topics.SENSORS_DATA, group)
    redelivered = []
    wait_for(lambda: redelivered.extend(r for r in again.poll(500, 0.5) if r.key == device.encode()) or redelivered)
    again.commit(redelivered)
    again.close()
    assert [r.offset for r in redelivered] == [r.offset for r in wanted]
    # A marker after the commit, on the same partition (same key): what the group gets before it is left over.
    marker = make_event("io.iotmon.test.marker.v1", "/test", {"run": run}, key=device)
    transport.publish(topics.SENSORS_DATA, [marker])
    after_commit = transport.consumer(topics.SENSORS_DATA, group)
    seen = []
    try:
        wait_for(
            lambda: (
                seen.extend(r for r in after_commit.poll(500, 0.5) if r.key == device.encode())
                or any(decode(r.headers, r.key, r.value)["id"] == marker["id"] for r in seen)
            ),
            what="the marker",
        )
    finally:
        after_commit.close()
    leftovers = [r for r in seen if decode(r.headers, r.key, r.value)["id"] != marker["id"]]
    assert leftovers == []


def test_records_with_broken_cloudevent_attributes_are_dead_lettered_never_stored(transport, clean_db, kafka_bootstrap):
    run = uuid.uuid4().hex[:8]
    device = f"k-{run}-"
    valid = {
        "ce_specversion": b"1.0",
        "ce_type": b"io.iotmon.reading.v1",
        "ce_source": b"/gateway",
        "ce_time": now_minus(0).encode(),
        "content-type": b"application/json",
    }
    broken = [
        {**valid, "ce_id": b"a", "ce_specversion": b"2.0"},
        {k: v for k, v in valid.items() if k != "ce_source"} | {"ce_id": b"b"},
        valid,  # no id
        {**valid, "ce_id": b"d", "ce_time": b"yesterday"},
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for n, headers in enumerate(broken):
        value = msgspec.json.encode(reading(f"{device}{n}", 1))
        producer.produce(topics.SENSORS_DATA, value, key=f"{device}{n}", headers=list(headers.items()))
    producer.flush(10)
    register_in(clean_db, f"{device}ok")
    with running_router(transport, clean_db, run):
        transport.publish(topics.SENSORS_DATA, [reading_event(reading(f"{device}ok", 1), "/test")])
        wait_for(lambda: stored(clean_db, device) >= 1)  # the good one went through, after the broken ones

        def ours(event: CloudEvent) -> bool:
            return device in str(event.get_data())

        letters = collect(transport, topics.SENSORS_DATA_DLQ, f"dlq-{run}", ours, lambda found: len(found) >= 4)
    assert stored(clean_db, device) == 1
    reasons = sorted(letter["iotmonerror"] for letter in letters)
    assert [reason.split(": ", 1)[1].split(" ")[0] for reason in reasons] == [
        "required",
        "required",
        "specversion",
        "time",
    ]
