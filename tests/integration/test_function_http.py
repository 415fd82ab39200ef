"""The ingest function as Knative runs it: functions-framework over HTTP, fed binary-mode CloudEvents.

A KafkaSource POSTs each record to the function as a binary-mode CloudEvent
(`ce-*` headers, the reading as the body). The function stores good readings
in PostgreSQL, passes them on to `metrics`, and answers 2xx for bad ones after
putting them on `sensors-data.dlq` (a retry could never succeed).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventing import topics
from eventing.binding import decode
from eventing.events import READING_REJECTED
from eventing.kafka import KafkaTransport
from iotmon.core.timestamps import iso
from tests.support.database import sql
from tests.support.devices import register_in
from tests.support.kafka_broker import free_port
from tests.support.processes import start, stop, wait_listening

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
KAFKA_SOURCE = "/apis/v1/namespaces/iot-monitoring/kafkasources/ingest-sensors-data#sensors-data"


def functions_framework() -> str:
    beside_python = Path(sys.executable).parent / "functions-framework"
    return str(beside_python if beside_python.exists() else REPO / ".venv" / "bin" / "functions-framework")


def reading(device: str, seconds_ago: float = 0.0, value: Any = 42.5) -> dict[str, Any]:
    return {
        "deviceId": device,
        "timestamp": iso(datetime.now(UTC) - timedelta(seconds=seconds_ago)),
        "sensorType": "pressure",
        "value": value,
        "unit": "psi",
        "location": "assembly-line-1",
    }


def unique_device(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def registered_device(url: str, prefix: str) -> str:
    device = unique_device(prefix)
    register_in(url, device, sensor_type="pressure", unit="psi")
    return device


def stored(url: str, device: str) -> list[tuple[str, float]]:
    rows = sql(
        url, "SELECT timestamp, value::float8 FROM sensor_readings WHERE device_id = %s ORDER BY timestamp", device
    )
    return [(iso(ts), value) for ts, value in rows]


# --------------------------------------------------------------------------- the function process


@pytest.fixture(scope="module")
def function_url(database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`functions-framework` itself, as the container image runs it."""
    port, log = free_port(), tmp_path_factory.mktemp("function") / "functions-framework.log"
    env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    args = ["--source", str(REPO / "functions/ingest.py"), "--target", "handle", "--signature-type", "cloudevent"]
    process = start([*args, "--host", "127.0.0.1", "--port", str(port)], env, log, program=functions_framework())
    try:
        wait_listening(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([process])


@pytest.fixture
def db_url(clean_db: str, function_url: str) -> str:
    return clean_db


def post_event(
    url: str,
    body: Any,
    *,
    type_: str = "io.iotmon.reading.v1",
    event_id: str | None = None,
    subject: str = "",
    key: str | None = None,
) -> httpx.Response:
    """A binary-mode CloudEvent exactly as Knative's KafkaSource dispatcher delivers a record.

    The record's `ce_*` headers become `ce-*` HTTP headers, so the `partitionkey`
    extension our producers set arrives as `ce-partitionkey`.
    """
    headers = {
        "ce-specversion": "1.0",
        "ce-type": type_,
        "ce-source": KAFKA_SOURCE,
        "ce-id": event_id or f"partition:{uuid.uuid4().int % 4}/offset:{uuid.uuid4().int % 10**9}",
        "ce-subject": subject or "partition:0#42",
        "content-type": "application/json",
    }
    if key is not None:
        headers["ce-partitionkey"] = key
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url, content=content, headers=headers, timeout=30)


def consume(bootstrap: str, topic: str, wanted: Callable[[Any], bool], count: int, timeout: float = 20.0) -> list[Any]:
    """Events on `topic` (from the start, in a group of our own) that `wanted` picks, until `count` of them."""
    transport = KafkaTransport(bootstrap, "test-function-http")
    consumer = transport.consumer(topic, f"test-function-http-{uuid.uuid4().hex[:8]}")
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            for record in consumer.poll(500, 0.5):
                event = decode(record.headers, record.key, record.value)
                if wanted(event):
                    found.append(event)
    finally:
        consumer.close()
        transport.close()
    return found


def data_of(event: Any) -> Any:
    data = event.get_data()
    return json.loads(data) if isinstance(data, (bytes, bytearray, str)) else data


# --------------------------------------------------------------------------- tests


def test_a_reading_event_is_stored_once_however_often_it_is_delivered(function_url, db_url, kafka_bootstrap):
    device = registered_device(db_url, "fn-one")
    sent = reading(device, value=33.25)
    response = post_event(function_url, sent, event_id="partition:0/offset:42", subject=device, key=device)
    assert 200 <= response.status_code < 300, response.text
    assert stored(db_url, device) == [(sent["timestamp"], 33.25)]
    # The KafkaSource redelivers (e.g. after a dispatcher restart): nothing is stored twice.
    again = post_event(function_url, sent, event_id="partition:0/offset:42", subject=device, key=device)
    assert 200 <= again.status_code < 300, again.text
    assert stored(db_url, device) == [(sent["timestamp"], 33.25)]
    # It was passed on to `metrics`, keyed by device.
    metrics = consume(kafka_bootstrap, topics.METRICS, lambda e: e.get("partitionkey") == device, 1)
    assert metrics, "no metrics event for the stored reading"
    assert [r["timestamp"] for r in data_of(metrics[0])["readings"]] == [sent["timestamp"]]


def test_a_batch_event_is_stored(function_url, db_url):
    devices = [registered_device(db_url, "fn-batch") for _ in range(3)]
    batch = [reading(devices[n % 3], seconds_ago=n, value=float(n)) for n in range(12)]
    response = post_event(
        function_url, {"readings": batch}, type_="io.iotmon.reading.batch.v1", key=unique_device("gw")
    )
    assert 200 <= response.status_code < 300, response.text
    for device in devices:
        assert sorted(stored(db_url, device)) == sorted(
            (r["timestamp"], r["value"]) for r in batch if r["deviceId"] == device
        )


def test_an_invalid_reading_is_dead_lettered_not_retried(function_url, db_url, kafka_bootstrap):
    device = unique_device("fn-bad")
    event_id = f"partition:1/offset:{uuid.uuid4().int % 10**9}"
    response = post_event(function_url, reading(device, value="hot"), event_id=event_id, subject=device, key=device)
    assert 200 <= response.status_code < 300, response.text  # a 5xx would make the KafkaSource retry in vain
    assert stored(db_url, device) == []
    letters = consume(kafka_bootstrap, topics.SENSORS_DATA_DLQ, lambda e: device in json.dumps(data_of(e)), 1)
    assert len(letters) == 1, "no dead letter for the invalid reading"
    letter = letters[0]
    assert letter["type"] == READING_REJECTED
    data = data_of(letter)
    assert "$.value" in data["reason"]
    assert data["original"]["deviceId"] == device and data["original"]["value"] == "hot"
    assert data["event"]["id"] == event_id
    assert data["event"]["source"] == KAFKA_SOURCE
    assert data["event"]["type"] == "io.iotmon.reading.v1"
    assert "$.value" in letter.get("iotmonerror", "")


def test_a_batch_with_a_bad_reading_stores_the_rest_and_dead_letters_it(function_url, db_url, kafka_bootstrap):
    device = registered_device(db_url, "fn-mixed")
    batch = [reading(device, seconds_ago=n, value=float(n)) for n in range(4)]
    batch[2] = {**batch[2], "unit": ""}
    response = post_event(function_url, {"readings": batch}, type_="io.iotmon.reading.batch.v1", key=device)
    assert 200 <= response.status_code < 300, response.text
    assert sorted(stored(db_url, device)) == sorted((r["timestamp"], r["value"]) for i, r in enumerate(batch) if i != 2)
    letters = consume(kafka_bootstrap, topics.SENSORS_DATA_DLQ, lambda e: device in json.dumps(data_of(e)), 1)
    assert len(letters) == 1
    assert data_of(letters[0])["index"] == 2
    assert data_of(letters[0])["original"] == batch[2]


def test_a_reading_of_an_unregistered_device_is_dead_lettered_not_retried(function_url, db_url, kafka_bootstrap):
    device, known = unique_device("fn-unknown"), registered_device(db_url, "fn-known")
    batch = [reading(device), reading(known)]
    response = post_event(function_url, {"readings": batch}, type_="io.iotmon.reading.batch.v1", key=device)
    assert 200 <= response.status_code < 300, response.text  # never retried: it cannot succeed later
    assert stored(db_url, device) == [] and len(stored(db_url, known)) == 1
    assert sql(db_url, "SELECT count(*) FROM devices WHERE device_id = %s", device) == [(0,)]
    letters = consume(kafka_bootstrap, topics.SENSORS_DATA_DLQ, lambda e: device in json.dumps(data_of(e)), 1)
    assert [data_of(letter)["reason"] for letter in letters] == [
        f"unknown device {device!r}: register it with POST /api/devices"
    ]


def test_an_event_that_is_not_a_reading_is_dead_lettered(function_url, db_url, kafka_bootstrap):
    marker = unique_device("fn-other")
    response = post_event(function_url, {"hello": marker}, type_="com.example.something.v1")
    assert 200 <= response.status_code < 300, response.text
    letters = consume(kafka_bootstrap, topics.SENSORS_DATA_DLQ, lambda e: marker in json.dumps(data_of(e)), 1)
    assert len(letters) == 1
    assert "unknown event type" in data_of(letters[0])["reason"]


def test_a_body_cut_short_by_a_dying_sender_is_a_failure_to_retry_not_a_bad_reading(function_url, db_url):
    """A router killed while sending: the server hands the function the part that arrived."""
    device = unique_device("cut")
    body = json.dumps(reading(device)).encode()
    host, port = function_url.removeprefix("http://").split(":")
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}\r\nce-specversion: 1.0\r\nce-type: io.iotmon.reading.v1\r\n"
        f"ce-source: {KAFKA_SOURCE}\r\nce-id: cut-{device}\r\ncontent-type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sender:
        sender.sendall(head.encode() + body[: len(body) // 2])
        sender.shutdown(socket.SHUT_WR)  # and then it died
        answer = b"".join(iter(lambda: sender.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 500"), answer[:200]
    assert b"cut short" in answer
    assert stored(db_url, device) == []
