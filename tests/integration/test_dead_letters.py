"""`iotmon dlq list|replay` as a user runs them, on the embedded event log (while `iotmon up` runs or not)
and on Kafka; and reading a group's pending records on Kafka without joining it.

The dead letter is written as the router writes one after an outage outlasted every retry: the original
reading event, with Knative's extensions naming ingest and its 503.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from eventing import topics
from eventing.events import reading_event
from eventing.kafka import KafkaTransport
from eventing.postgres import PostgresTransport
from iotmon.adapters.postgres import db
from tests.integration.test_durability import database
from tests.support.kafka_broker import free_port
from tests.support.load import reading
from tests.support.transport_contract import events, numbers
from tests.support.up import Up, iotmon_command, kill_leftovers
from tests.support.waiting import wait_for


def dlq(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}}
    done = subprocess.run(
        [iotmon_command(), "dlq", *args], env={**inherited, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


def test_a_reading_dead_lettered_in_an_outage_is_listed_and_replayed_into_the_running_system(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"IOTMON_DATA_DIR": str(data_dir)}
    at = datetime.now(UTC).replace(microsecond=123_000)
    letter = reading_event(reading("device-001", at), "/test")
    sent = reading("device-001", at)["timestamp"]
    letter["knativeerrordest"], letter["knativeerrorcode"] = "ingest", "503"
    with database(data_dir) as conn:  # (its own embedded PostgreSQL, stopped again after)
        db.migrate(conn.info.dsn)
        transport = PostgresTransport(conn.info.dsn)
        transport.publish(topics.SENSORS_DATA_DLQ, [letter])
        transport.close()

    listed = json.loads(dlq("list", "--json", env=env).stdout)  # nothing running: it starts the server itself
    assert listed["waiting"] == 1
    assert [(e["kind"], e["reason"], e["id"]) for e in listed["letters"]] == [("unavailable", "HTTP 503", letter["id"])]

    up = Up(free_port(), data_dir, tmp_path / "up.log", fresh=False)
    try:
        url = up.wait_for_url()
        status = httpx.get(f"{url}/api/status", timeout=10).json()["data"]
        assert status["deadLetters"]["waiting"] == 1
        assert status["deadLetters"]["groups"][0]["kind"] == "unavailable"

        replayed = dlq("replay", env=env).stdout  # while it runs: on its PostgreSQL
        assert "replayed 1 event(s); 1 to sensors-data" in replayed

        def stored() -> bool:
            history = httpx.get(f"{url}/api/devices/device-001/history", params={"from": sent}, timeout=10)
            return sent in [r["timestamp"] for r in history.json()["data"]["readings"]]

        wait_for(stored, 15, "the replayed reading stored")
        assert json.loads(dlq("list", "--json", env=env).stdout)["waiting"] == 0
        assert up.terminate() == 0
    finally:
        up.kill()
        kill_leftovers(data_dir)


@pytest.mark.kafka
def test_kafka_pending_reads_what_a_group_has_not_committed_without_joining_it(kafka_bootstrap: str) -> None:
    topic = f"pending-{uuid.uuid4().hex[:8]}"
    transport = KafkaTransport(kafka_bootstrap, "test-pending")
    try:
        transport.ensure_topics([topic], partitions=1)
        transport.publish(topic, events("k", 6))
        assert transport.pending(topic, "g", 4)[0] == 6
        consumer = transport.consumer(topic, "g")
        consumer.commit(wait_for(lambda: consumer.poll(2, 1.0), 30, "the first records")[:2])
        count, records = transport.pending(topic, "g", 100)
        assert (count, numbers(records)) == (4, [2, 3, 4, 5])
        consumer.close()
        assert transport.pending(f"{topic}-none", "g", 10) == (0, [])  # no such topic: nothing dead-lettered
    finally:
        transport.close()


@pytest.mark.kafka
def test_dlq_list_reads_kafka(kafka_bootstrap: str) -> None:
    letter = reading_event(reading("device-001", datetime.now(UTC)), "/test")
    letter["knativeerrordest"] = "http://ingest.iot-monitoring.svc.cluster.local"
    letter["knativeerrorcode"], letter["knativeerrordata"] = "500", base64.b64encode(b"database down").decode()
    transport = KafkaTransport(kafka_bootstrap, "test-dlq")
    transport.publish(topics.SENSORS_DATA_DLQ, [letter])
    transport.close()
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    listed = json.loads(dlq("list", "--json", "--limit", "100000", env=env).stdout)
    [found] = [e for e in listed["letters"] if e["id"] == letter["id"]]
    assert (found["kind"], found["reason"], found["topic"]) == (
        "unavailable",
        "HTTP 500: database down",
        "sensors-data.dlq",
    )
