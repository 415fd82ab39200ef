"""The pipeline on a real Kafka broker: sensors-data → router → ingest → PostgreSQL, metrics and the DLQ."""

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
import pytest

from eventing import topics
from eventing.binding import decode
from eventing.events import batch_event, reading_event
from eventing.kafka import KafkaTransport
from eventing.router import Router
from eventing.wiring import load_wiring
from functions.ingest import Ingest
from iotmon.adapters.postgres import db
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


def drain(transport: KafkaTransport, topic: str, group: str, expected: int, timeout: float = 30.0) -> list:
    consumer = transport.consumer(topic, group)
    events, deadline = [], time.monotonic() + timeout
    try:
        while len(events) < expected and time.monotonic() < deadline:
            events += [decode(r.headers, r.key, r.value) for r in consumer.poll(100, 0.5)]
    finally:
        consumer.close()
    return events


@pytest.fixture
def transport(kafka_bootstrap):
    kafka = KafkaTransport(kafka_bootstrap, "test")
    yield kafka
    kafka.close()


def run_router(transport: KafkaTransport, database_url: str, group_suffix: str) -> Router:
    """The manifests' wiring with a consumer group of this test's own (the broker is shared)."""
    wiring = load_wiring()
    subscriptions = tuple(
        replace(s, group=f"{s.group}-{group_suffix}") for s in wiring.subscriptions if s.function == "ingest"
    )
    ingest = Ingest(db.pool(database_url), transport)
    return Router(transport, replace(wiring, subscriptions=subscriptions, schedules=()), {"ingest": ingest}).start()


def test_readings_flow_to_postgres_metrics_and_the_dead_letter_topic(transport, clean_db):
    run = uuid.uuid4().hex[:8]
    device = f"k-{run}-"
    router = run_router(transport, clean_db, run)
    try:
        good = [reading(f"{device}{n % 3}", n) for n in range(30)]
        transport.publish(topics.SENSORS_DATA, [reading_event(r, "/test") for r in good[:10]])
        transport.publish(topics.SENSORS_DATA, [batch_event(good[10:], "/gateway", key="gw-1")])
        transport.publish(topics.SENSORS_DATA, [reading_event({**reading(f"{device}0", 100), "value": "NaN"}, "/test")])
        wait_for(lambda: stored(clean_db, device) == 30)
        letters = [
            e
            for e in drain(transport, topics.SENSORS_DATA_DLQ, f"dlq-{run}", 10, timeout=10)
            if device in str(e.get_data())
        ]
        metrics = [
            e
            for e in drain(transport, topics.METRICS, f"metrics-{run}", 1000, timeout=5)
            if device in str(e.get_data())
        ]
    finally:
        router.stop()
    assert len(letters) == 1
    assert "$.value" in msgspec.json.decode(letters[0].get_data())["reason"]
    forwarded = [r for e in metrics for r in msgspec.json.decode(e.get_data())["readings"]]
    assert sorted(r["timestamp"] for r in forwarded) == sorted(r["timestamp"] for r in good)


def test_redelivery_after_a_crash_stores_nothing_twice(transport, clean_db):
    run = uuid.uuid4().hex[:8]
    device = f"r-{run}"
    readings = [reading(device, n) for n in range(50)]
    transport.publish(topics.SENSORS_DATA, [batch_event(readings, "/gateway", key=device)])
    # A first consumer stores the batch but "crashes" before committing its offset.
    ingest = Ingest(db.pool(clean_db), transport)
    crashed = transport.consumer(topics.SENSORS_DATA, f"ingest-{run}")
    records = []
    wait_for(lambda: records.extend(crashed.poll(500, 0.5)) or any(r.key == device.encode() for r in records))
    ingest([decode(r.headers, r.key, r.value) for r in records if r.key == device.encode()])
    crashed.close()
    assert stored(clean_db, device) == 50
    # The group's next member gets the same records again.
    router = run_router(transport, clean_db, run)
    try:
        wait_for(lambda: router.counts["delivered"] >= 1)
        time.sleep(0.5)
    finally:
        router.stop()
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
    after_commit = transport.consumer(topics.SENSORS_DATA, group)
    leftovers = [r for r in after_commit.poll(500, 2.0) if r.key == device.encode()]
    after_commit.close()
    assert leftovers == []
