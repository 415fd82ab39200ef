"""The five functions together on a real Kafka broker, as `iotmon up` wires them from knative/.

Readings go in through the REST API; a Socket.IO client watches what comes out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
import redis
import socketio

from iotmon.adapters.redis import keys
from tests.support.auth import gateway_headers
from tests.support.service import running_system
from tests.support.waiting import wait_for

pytestmark = pytest.mark.kafka


def stamp(seconds_ago: float = 0.0) -> str:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def chain(database_url, redis_url, kafka_bootstrap, tmp_path_factory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("chain")
    with running_system(
        database_url, redis_url, data_dir, kafka_bootstrap_servers=kafka_bootstrap, tick_seconds=1.0
    ) as system:
        yield system.url


@pytest.fixture
def client(chain) -> Iterator[socketio.SimpleClient]:
    sio = socketio.SimpleClient()
    sio.connect(chain, transports=["websocket"])
    yield sio
    sio.disconnect()


def next_event(client: socketio.SimpleClient, wanted: str, check=lambda data: True, timeout: float = 20.0) -> dict:
    deadline = datetime.now().timestamp() + timeout
    while True:
        event, data = client.receive(timeout=max(0.1, deadline - datetime.now().timestamp()))
        if event == wanted and check(data):
            return data


def post(chain: str, device: str, value: float, sensor: str, unit: str, seconds_ago: float = 0.0) -> None:
    reading = {"deviceId": device, "timestamp": stamp(seconds_ago), "sensorType": sensor, "value": value, "unit": unit}
    assert httpx.post(f"{chain}/api/readings", json=reading, headers=gateway_headers(), timeout=10).status_code == 202


def test_a_breach_flows_from_the_api_to_alert_triggered(chain, client, clean_db, redis_url):
    assert client.call("subscribe-device", "device-002")["success"]
    assert client.call("subscribe-alerts", {})["success"]
    post(chain, "device-002", 30.0, "pressure", "psi", seconds_ago=2)
    live = next_event(client, "sensor-data", lambda d: d["deviceId"] == "device-002")
    assert live["data"] == {"value": 30.0, "unit": "psi", "status": "normal"}
    current = wait_for(lambda: redis.Redis.from_url(redis_url).get(keys.current("device-002")))
    assert json.loads(current)["value"] == 30.0
    for value in (58.5, 59.0, 60.0):  # breach_count is 2: one alert, not three
        post(chain, "device-002", value, "pressure", "psi")
    alert = next_event(client, "alert-triggered", lambda d: d["deviceId"] == "device-002")
    assert alert["type"] == "threshold_exceeded" and alert["threshold"] == 55 and alert["action"] == "triggered"
    with psycopg.connect(clean_db) as conn:
        wait_for(
            lambda: (
                conn.execute("SELECT count(*) FROM sensor_readings WHERE device_id = 'device-002'").fetchone()[0] == 4
            )
        )
        open_alerts = conn.execute(
            "SELECT count(*) FROM alerts WHERE device_id = 'device-002' AND status <> 'resolved'"
        ).fetchone()[0]
    assert open_alerts == 1


def test_unacknowledged_alerts_escalate_on_the_cron_tick(chain, client, clean_db):
    assert client.call("subscribe-alerts", {})["success"]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at)"
            " VALUES ('device-001', 'threshold_exceeded', 'hot', 'high', 90, 85, 'triggered', now() - interval '10 minutes')"
        )
    escalated = next_event(
        client, "alert-triggered", lambda d: d["deviceId"] == "device-001" and d["action"] == "escalated"
    )
    assert escalated["status"] == "escalated"


def test_a_silent_device_goes_offline_and_comes_back(chain, client, clean_db):
    assert client.call("subscribe-device", "device-004")["success"]
    post(chain, "device-004", 300.0, "production", "units/hour", seconds_ago=45)  # older than its 30 s timeout
    offline = next_event(client, "device-status", lambda d: d["deviceId"] == "device-004")
    assert offline["status"] == "offline"
    post(chain, "device-004", 310.0, "production", "units/hour")
    online = next_event(client, "device-status", lambda d: d["deviceId"] == "device-004" and d["status"] == "online")
    assert online["status"] == "online"
