"""`iotmon func run <name>`: each function served over HTTP as Knative runs it, fed what Knative sends.

The requests are written out by hand, header by header, as Knative's sources
send them: a KafkaSource forwards a record that carries a binary-mode
CloudEvent as that event, wraps any other record as `dev.knative.kafka.event`
(id `partition:<p>/offset:<o>`), and a PingSource posts
`dev.knative.sources.ping`. The effects are read back from PostgreSQL and
Redis. Answers: 2xx when handled, 400 for an event that can never be handled,
500 for a failure worth retrying.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis as redis_lib

from eventing.endpoints import FUNCTIONS
from iotmon.adapters.redis import keys
from iotmon.core.timestamps import iso
from tests.support.database import sql
from tests.support.kafka_broker import free_port
from tests.support.processes import function_servers

pytestmark = pytest.mark.kafka

NAMESPACE = "/apis/v1/namespaces/iot-monitoring"
INGEST_SOURCE = f"{NAMESPACE}/kafkasources/ingest-sensors-data#sensors-data"


@pytest.fixture(scope="module")
def server_env(database_url: str, redis_url: str, kafka_bootstrap: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "IOTMON_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def urls(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with function_servers(FUNCTIONS, server_env, tmp_path_factory.mktemp("func-run")) as urls:
        yield urls


@pytest.fixture
def db(clean_db: str, urls: dict[str, str]) -> str:
    return clean_db


def reading(device: str = "device-002", value: float = 42.5, seconds_ago: float = 0.0) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {"deviceId": device, "timestamp": iso(at), "sensorType": "pressure", "value": value, "unit": "psi"}


def binary(url: str, headers: dict[str, str], body: Any) -> httpx.Response:
    """A binary-mode CloudEvent: attributes as `ce-*` headers, the data as the body."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url, content=content, headers={"content-type": "application/json", **headers}, timeout=30)


def forwarded(type_: str, source: str, key: str, **extra: str) -> dict[str, str]:
    """The headers of an event our producers wrote to Kafka, as a KafkaSource forwards it."""
    return {
        "ce-specversion": "1.0",
        "ce-type": type_,
        "ce-source": source,
        "ce-id": extra.pop("id", str(uuid.uuid4())),
        "ce-time": iso(datetime.now(UTC)),
        "ce-subject": key,
        "ce-partitionkey": key,
        **{f"ce-{name}": value for name, value in extra.items()},
    }


def wrapped(source: str, partition: int, offset: int, key: str) -> dict[str, str]:
    """The headers of a plain record (no CloudEvent headers) as a KafkaSource wraps it."""
    return {
        "ce-specversion": "1.0",
        "ce-type": "dev.knative.kafka.event",
        "ce-source": source,
        "ce-id": f"partition:{partition}/offset:{offset}",
        "ce-subject": f"partition:{partition}#{offset}",
        "ce-time": iso(datetime.now(UTC)),
        "ce-partitionkey": key,
        "ce-key": key,
    }


def readings_of(url: str, device: str) -> list[tuple[str, float]]:
    rows = sql(
        url, "SELECT timestamp, value::float8 FROM sensor_readings WHERE device_id = %s ORDER BY timestamp", device
    )
    return [(iso(at), value) for at, value in rows]


def alerts_of(url: str, device: str) -> list[tuple[str, str]]:
    return sql(url, "SELECT alert_type, status FROM alerts WHERE device_id = %s ORDER BY id", device)


def assert_ok(response: httpx.Response) -> None:
    assert 200 <= response.status_code < 300, (response.status_code, response.text)


# --------------------------------------------------------------------------- ingest


def test_ingest_stores_a_forwarded_reading_once_however_often_it_is_delivered(urls, db):
    sent = reading(value=33.25)
    headers = forwarded("io.iotmon.reading.v1", "/iotmon/simulator", "device-002")
    for _ in range(2):  # the KafkaSource redelivers the same record (e.g. after a dispatcher restart)
        assert_ok(binary(urls["ingest"], headers, sent))
    assert readings_of(db, "device-002") == [(sent["timestamp"], 33.25)]


def test_ingest_takes_a_plain_json_reading_wrapped_by_the_kafka_source(urls, db):
    sent = reading(value=12.5)
    headers = wrapped(INGEST_SOURCE, partition=1, offset=7, key="device-002")
    for _ in range(2):
        assert_ok(binary(urls["ingest"], headers, sent))
    assert readings_of(db, "device-002") == [(sent["timestamp"], 12.5)]


def test_ingest_takes_a_wrapped_plain_gateway_batch(urls, db):
    batch = [reading(value=float(n), seconds_ago=n) for n in range(3)]
    assert_ok(binary(urls["ingest"], wrapped(INGEST_SOURCE, 0, 99, "gateway-7"), {"readings": batch}))
    assert sorted(readings_of(db, "device-002")) == sorted((r["timestamp"], r["value"]) for r in batch)


def test_ingest_takes_a_structured_cloudevent(urls, db):
    sent = reading(value=7.75)
    event = {
        "specversion": "1.0",
        "type": "io.iotmon.reading.v1",
        "source": "/gateway/7",
        "id": str(uuid.uuid4()),
        "datacontenttype": "application/json",
        "data": sent,
    }
    response = httpx.post(
        urls["ingest"], content=json.dumps(event), headers={"content-type": "application/cloudevents+json"}, timeout=30
    )
    assert_ok(response)
    assert readings_of(db, "device-002") == [(sent["timestamp"], 7.75)]


def test_ingest_answers_2xx_for_a_bad_reading_it_dead_letters_itself(urls, db):
    # A 4xx/5xx would make the KafkaSource retry or dead-letter it without the reason; ingest does it better.
    response = binary(
        urls["ingest"], forwarded("io.iotmon.reading.v1", "/s", "device-002"), reading(value="hot")
    )  # a value of the wrong type, on purpose
    assert_ok(response)
    assert readings_of(db, "device-002") == []


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b'{"no": "cloudevent"}'),  # no ce-* headers at all
        ({"content-type": "application/cloudevents+json"}, b'{"specversion": "1.0", '),  # broken structured event
    ],
)
def test_a_request_that_is_no_cloudevent_gets_400(urls, headers, body):
    response = httpx.post(urls["ingest"], content=body, headers=headers, timeout=30)
    assert response.status_code == 400, response.text


# --------------------------------------------------------------------------- aggregate


def test_aggregate_writes_the_live_state_to_redis(urls, db, redis):
    batch = [reading(value=40.0 + n, seconds_ago=3 - n) for n in range(3)]
    headers = forwarded("io.iotmon.reading.batch.v1", "/iotmon/ingest", "device-002")
    assert_ok(binary(urls["aggregate"], headers, {"readings": batch}))
    current = json.loads(redis.get(keys.current("device-002")))
    assert current["value"] == 42.0 and current["timestamp"] == batch[-1]["timestamp"]
    stats = json.loads(redis.get(keys.stats("device-002", "1h")))
    assert stats["count"] == 3 and stats["min"] == 40.0 and stats["max"] == 42.0


def test_aggregate_refuses_an_event_that_is_no_reading_with_400(urls, db):
    headers = forwarded("com.example.other.v1", "/elsewhere", "device-002")
    response = binary(urls["aggregate"], headers, {"hello": "world"})
    assert response.status_code == 400
    assert "unknown event type 'com.example.other.v1'" in response.text  # the body becomes knativeerrordata


def test_a_failure_worth_retrying_is_a_500(server_env, tmp_path):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    with function_servers(["aggregate"], {**server_env, "REDIS_URL": dead_redis}, tmp_path) as urls:
        headers = forwarded("io.iotmon.reading.batch.v1", "/iotmon/ingest", "device-002")
        response = binary(urls["aggregate"], headers, {"readings": [reading()]})
    assert response.status_code == 500
    assert "Connection" in response.text or "connect" in response.text


# --------------------------------------------------------------------------- evaluate-rule


def test_evaluate_rule_opens_one_alert_however_often_the_event_comes(urls, db):
    batch = [reading(value=60.0 + n, seconds_ago=3 - n) for n in range(3)]  # device-002 alerts above 55 psi
    headers = forwarded("io.iotmon.reading.batch.v1", "/iotmon/ingest", "device-002")
    for _ in range(2):
        assert_ok(binary(urls["evaluate-rule"], headers, {"readings": batch}))
    assert alerts_of(db, "device-002") == [("threshold_exceeded", "triggered")]


def test_evaluate_rule_takes_a_wrapped_plain_reading(urls, db):
    source = f"{NAMESPACE}/kafkasources/evaluate-rule-metrics#metrics"
    for offset, value in enumerate((60.0, 61.0, 62.0)):
        sent = reading(value=value, seconds_ago=3 - offset)
        assert_ok(binary(urls["evaluate-rule"], wrapped(source, 0, offset, "device-002"), sent))
    assert alerts_of(db, "device-002") == [("threshold_exceeded", "triggered")]


# --------------------------------------------------------------------------- escalate-cron


def test_a_ping_source_tick_escalates_an_unacknowledged_alert(urls, db):
    sql(
        db,
        "INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at)"
        " VALUES ('device-002', 'threshold_exceeded', 'Pressure above 55 psi', 'high', 58.5, 55, 'triggered',"
        " now() - interval '10 minutes')",
    )
    tick = {
        "ce-specversion": "1.0",
        "ce-type": "dev.knative.sources.ping",
        "ce-source": f"{NAMESPACE}/pingsources/escalate-cron-tick",
        "ce-id": str(uuid.uuid4()),
        "ce-time": iso(datetime.now(UTC)),
    }
    assert_ok(binary(urls["escalate-cron"], tick, b'{"job": "escalate"}'))
    assert alerts_of(db, "device-002") == [("threshold_exceeded", "escalated")]


# --------------------------------------------------------------------------- notify


def alert_change(alert_id: str) -> dict[str, Any]:
    return {
        "alertId": alert_id,
        "deviceId": "device-002",
        "type": "threshold_exceeded",
        "severity": "high",
        "status": "triggered",
        "action": "triggered",
        "message": "Pressure above 55 psi",
        "value": 58.5,
        "threshold": 55.0,
        "timestamp": iso(datetime.now(UTC)),
        "sequence": 1,
    }


def unique_alert_id() -> str:
    return f"alert-{uuid.uuid4().int % 10**9:09d}"


def notifications(url: str, device: str = "device-002") -> list[tuple[str, str, str]]:
    return sql(url, "SELECT alert_id, channel, status FROM notifications WHERE device_id = %s ORDER BY id", device)


@pytest.fixture
def listening(redis_url: str) -> Iterator[None]:
    """A subscriber on the Socket.IO channel, as a service replica is: notify's live message counts as sent only
    when one heard it."""
    with redis_lib.Redis.from_url(redis_url) as client, client.pubsub() as replica:
        replica.subscribe(keys.SOCKETIO_CHANNEL)
        assert replica.get_message(timeout=5)["type"] == "subscribe"
        yield


def test_notify_sends_an_alert_to_the_live_view_once(urls, db, listening):
    alert = unique_alert_id()
    headers = forwarded("io.iotmon.alert.triggered.v1", "/iotmon/evaluate-rule", "device-002", id=f"{alert}/1")
    for _ in range(2):
        assert_ok(binary(urls["notify"], headers, alert_change(alert)))
    assert [row for row in notifications(db) if row[0] == alert] == [(alert, "socketio", "sent")]


def test_notify_takes_a_wrapped_plain_alert_change(urls, db, listening):
    alert = unique_alert_id()
    source = f"{NAMESPACE}/kafkasources/notify-alerts#alerts"
    assert_ok(binary(urls["notify"], wrapped(source, 3, 5, "device-002"), alert_change(alert)))
    assert [row for row in notifications(db) if row[0] == alert] == [(alert, "socketio", "sent")]


def test_notify_refuses_an_event_that_is_no_alert_with_400(urls, db):
    device = f"device-{uuid.uuid4().hex[:8]}"
    response = binary(urls["notify"], forwarded("io.iotmon.reading.v1", "/s", device), reading(device))
    assert response.status_code == 400
    assert "not an alert event" in response.text
    assert notifications(db, device) == []
