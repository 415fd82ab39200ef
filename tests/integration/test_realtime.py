"""The Socket.IO protocol on two service replicas sharing Redis, with real clients.

Functions publish through python-socketio's write-only Redis manager (as
aggregate and notify do); each replica delivers to the clients in the rooms.
The first replica is the session's shared system (tests/integration/conftest.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec
import psycopg
import pytest
import redis
import socketio

from iotmon.adapters.redis import keys, watched
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.core.contracts.devices import WindowStats
from iotmon.core.live import ALERTS_ROOM, device_room
from iotmon.system import System
from tests.support.live_clients import receive, socketio_clients
from tests.support.service import running_system


@pytest.fixture(scope="module")
def second_replica(database_url, redis_url, tmp_path_factory) -> Iterator[System]:
    """Another replica of the service beside the shared system, on the same PostgreSQL and Redis."""
    with running_system(database_url, redis_url, tmp_path_factory.mktemp("replica-1")) as system:
        yield system


@pytest.fixture
def replicas(service: System, second_replica: System) -> list[str]:
    return [service.url, second_replica.url]


@pytest.fixture(autouse=True)
def no_current_values(redis_url) -> None:
    """Subscribing sends a device's current value first; earlier tests may have left some."""
    store = redis.Redis.from_url(redis_url)
    for key in store.scan_iter("device:*:current"):
        store.delete(key)


@pytest.fixture
def connect(replicas) -> Iterator:
    with socketio_clients() as open_at:
        yield lambda replica=0: open_at(replicas[replica])


MARKER = "test-marker"


def nothing_arrives(client: socketio.SimpleClient, event_name: str, redis_url: str) -> bool:
    """No `event_name` reaches the client before a marker sent to it afterwards: messages published through the
    Redis manager reach each client in the order they were published, so what was sent before the marker and
    meant for this client would have come first."""
    mark = uuid.uuid4().hex
    LiveEmitter(redis_url).emit(MARKER, {"mark": mark}, room=client.sid)  # every client is in a room of its own
    while True:
        event, data = client.receive(timeout=5)
        if event == event_name:
            return False
        if event == MARKER and data["mark"] == mark:
            return True


def test_sensor_data_reaches_subscribers_of_that_device_on_every_replica(connect, redis_url):
    first, second, other = connect(0), connect(1), connect(1)
    assert first.call("subscribe-device", {"deviceId": "device-001"}) == {"success": True, "deviceId": "device-001"}
    assert second.call("subscribe-device", "device-001")["success"] is True
    assert other.call("subscribe-device", "device-002")["success"] is True
    payload = {
        "deviceId": "device-001",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "data": {"value": 71.5, "unit": "celsius", "status": "normal"},
        "stats": {"avg": 70.1, "trend": "stable"},
    }
    LiveEmitter(redis_url).emit("sensor-data", payload, room=device_room("device-001"))
    assert receive(first, "sensor-data") == payload
    assert receive(second, "sensor-data") == payload
    assert nothing_arrives(other, "sensor-data", redis_url)


def test_a_subscription_marks_its_device_watched_for_aggregate(connect, redis_url):
    client = connect()
    before = time.time()
    client.call("subscribe-device", "device-002")
    lapses = redis.Redis.from_url(redis_url).zscore(watched.WATCHED, "device-002")
    assert lapses is not None and lapses >= before + watched.MARK_S  # renewed every RENEW_S while the room has members


def test_unsubscribe_stops_the_stream(connect, redis_url):
    client = connect()
    client.call("subscribe-device", "device-003")
    assert client.call("unsubscribe-device", "device-003")["success"] is True
    LiveEmitter(redis_url).emit("sensor-data", {"deviceId": "device-003"}, room=device_room("device-003"))
    assert nothing_arrives(client, "sensor-data", redis_url)


def test_subscribing_sends_the_current_value_at_once(connect, redis_url):
    store = redis.Redis.from_url(redis_url)
    store.set(
        keys.current("device-004"),
        json.dumps({"value": 321.0, "timestamp": "2026-01-01T00:00:00Z", "unit": "units/hour", "status": "normal"}),
    )
    hour = WindowStats(
        avg=300.5, min=250.0, max=350.0, count=60, trend="increasing", std=20.0, median=301.0, slope=0.01,
        window_start="2025-12-31T23:00:00.000Z", window_end="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z",
    )  # fmt: skip
    store.set(keys.stats("device-004", "1h"), msgspec.json.encode(hour))
    client = connect()
    client.call("subscribe-device", "device-004")
    snapshot = receive(client, "sensor-data")
    assert snapshot["data"] == {"value": 321.0, "unit": "units/hour", "status": "normal"}
    assert snapshot["stats"] == {"avg": 300.5, "trend": "increasing", "min": 250.0, "max": 350.0}


@pytest.mark.parametrize("payload", [{"deviceId": "device-999"}, {"id": 1}, 42, None])
def test_bad_subscriptions_get_an_error_event(connect, payload):
    client = connect()
    answer = client.call("subscribe-device", payload)
    assert answer["success"] is False
    error = receive(client, "error")
    assert error["event"] == "subscribe-device" and error["message"]


def test_alerts_room_and_the_replay_of_missed_alerts(connect, clean_db, redis_url):
    with psycopg.connect(clean_db, autocommit=True) as conn:
        number = conn.execute(
            "INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at)"
            " VALUES ('device-002', 'threshold_exceeded', 'Pressure above 55 psi', 'high', 58.5, 55, 'triggered', now())"
            " RETURNING id"
        ).fetchone()[0]
        sequences = [
            conn.execute(
                "INSERT INTO alert_history (alert_id, action, from_status, to_status) VALUES (%s, %s, %s, %s) RETURNING id",
                (number, action, before, after),
            ).fetchone()[0]
            for action, before, after in [("triggered", None, "triggered"), ("resolved", "triggered", "resolved")]
        ]
    client = connect(1)
    answer = client.call("subscribe-alerts", {"since": sequences[0] - 1})
    assert answer == {"success": True, "replayed": 2}
    triggered = receive(client, "alert-triggered")
    assert triggered["alertId"] == f"alert-{number:03d}" and triggered["severity"] == "high" and triggered["replayed"]
    assert receive(client, "alert-resolved")["sequence"] == sequences[1]
    assert client.call("subscribe-alerts", {"since": sequences[1]}) == {"success": True, "replayed": 0}
    live = {"alertId": "alert-999", "deviceId": "device-001", "type": "threshold_exceeded", "severity": "critical"}
    LiveEmitter(redis_url).emit("alert-triggered", live, room=ALERTS_ROOM)
    assert receive(client, "alert-triggered") == live
    assert client.call("subscribe-alerts", {"since": "yesterday"})["success"] is False


def test_system_status_on_subscription_and_ping(connect):
    client = connect()
    assert client.call("subscribe-system")["success"] is True
    status = receive(client, "system-status")
    assert status["status"] == "healthy" and set(status["dependencies"]) >= {"database", "redis", "kafka"}
    pong = client.call("ping")
    assert pong["status"] == "pong"
    assert datetime.fromisoformat(pong["timestamp"]).tzinfo == UTC
