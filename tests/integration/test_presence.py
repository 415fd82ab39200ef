"""A device the plant reports offline or back, through the whole system as `iotmon up` wires it from knative/.

The bridges' presence hook (iotmon.bridges.presence) puts a report on `sensors-data`; ingest passes it on to
`metrics`; evaluate-rule opens or resolves `device_offline` at once (aggregate, beside it, lets it by); notify
moves the device's `device-status`, which a Socket.IO client of the service hears. Real PostgreSQL, Redis,
the embedded event log and the router that reads the Knative manifests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import socketio
from psycopg_pool import ConnectionPool
from redis import Redis

from eventing import topics
from eventing.transport import Consumer
from functions.escalate_cron import EscalateCron
from iotmon.bridges.presence import publish_presence
from iotmon.core.bridging import Presence
from iotmon.system import System
from tests.support.auth import gateway_headers
from tests.support.service import settle
from tests.support.waiting import wait_for

DEVICE = "device-003"


@pytest.fixture
def dead_letters(service: System) -> Iterator[Consumer]:
    """A consumer of `sensors-data.dlq` that has read everything before the test."""
    assert service.transport is not None
    consumer = service.transport.consumer(topics.SENSORS_DATA_DLQ, "test-presence-dlq")
    while consumer.poll(1000, 0):  # a new group starts at the oldest record kept: skip what came before
        pass
    yield consumer
    consumer.close()


@pytest.fixture
def client(service: System, clean_db: str) -> Iterator[socketio.SimpleClient]:
    sio = socketio.SimpleClient()
    sio.connect(service.url, transports=["websocket"])
    assert sio.call("subscribe-device", DEVICE)["success"]
    yield sio
    sio.disconnect()


def statuses(client: socketio.SimpleClient, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next `count` device-status messages the client hears."""
    heard: list[dict[str, Any]] = []
    deadline = datetime.now().timestamp() + timeout
    while len(heard) < count:
        event, data = client.receive(timeout=max(0.1, deadline - datetime.now().timestamp()))
        if event == "device-status":
            heard.append(data)
    return heard


def offline_alerts(database_url: str) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT status, details ->> 'reportedBy', (SELECT string_agg(action, ',' ORDER BY id) FROM alert_history h"
            " WHERE h.alert_id = a.id) FROM alerts a WHERE device_id = %s AND alert_type = 'device_offline'"
            " ORDER BY id",
            (DEVICE,),
        ).fetchall()


def test_a_death_opens_device_offline_at_once_a_birth_resolves_it_and_redelivery_changes_nothing(
    service: System,
    clean_db: str,
    client: socketio.SimpleClient,
    pool: ConnectionPool,
    redis: Redis,
    dead_letters: Consumer,
) -> None:
    transport = service.transport
    assert transport is not None
    reading_at = datetime.now(UTC) - timedelta(seconds=5)
    reading = {
        "deviceId": DEVICE,
        "timestamp": reading_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sensorType": "vibration",
        "value": 40.0,
        "unit": "hz",
    }
    response = httpx.post(f"{service.url}/api/readings", json=reading, headers=gateway_headers(), timeout=10)
    assert response.status_code == 202
    settle(service)

    died = datetime.now(UTC) - timedelta(seconds=1)
    death = [Presence(DEVICE, "offline", died, "NDEATH of plant/edge1")]
    publish_presence(transport, death)
    (offline,) = statuses(client, 1)
    assert offline["deviceId"] == DEVICE and offline["status"] == "offline"
    assert offline_alerts(clean_db) == [("triggered", "plant", "triggered")]

    # The device's last reading is within its timeout: escalate-cron does not take the plant's word back.
    assert EscalateCron(pool, redis, transport, retention=False)() == []

    publish_presence(transport, death)  # the bridge sends it again (a crash before its acknowledgement)
    settle(service)
    assert offline_alerts(clean_db) == [("triggered", "plant", "triggered")]

    publish_presence(transport, [Presence(DEVICE, "online", datetime.now(UTC), "DBIRTH of plant/edge1/plc1")])
    (online,) = statuses(client, 1)
    assert online["status"] == "online" and online["alertId"] == offline["alertId"]
    publish_presence(transport, death)  # a late redelivery of the death opens nothing again
    settle(service)
    assert offline_alerts(clean_db) == [("resolved", "plant", "triggered,resolved")]
    assert dead_letters.poll(10, 0.5) == []  # nobody refused a report (aggregate lets them by)


def test_a_report_of_an_unknown_device_is_dead_lettered(service: System, clean_db: str, dead_letters: Consumer) -> None:
    assert service.transport is not None
    nobody = [Presence("edge9-nobody", "offline", datetime.now(UTC), "NDEATH of plant/edge9")]
    publish_presence(service.transport, nobody)
    records = wait_for(lambda: dead_letters.poll(10, 1.0), 20, "the dead letter")
    assert b"unknown device 'edge9-nobody'" in (records[0].value or b"")
    settle(service)
    assert offline_alerts(clean_db) == []
