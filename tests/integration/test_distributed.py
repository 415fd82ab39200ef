"""Local distributed mode as the README runs it, every part its own process, on real Kafka, PostgreSQL and Redis.

`iotmon simulate` → Kafka → `iotmon router` (KafkaSource and PingSource) →
HTTP → five `iotmon func run <name>` servers → PostgreSQL, Redis, Kafka →
`iotmon serve` → a Socket.IO client, which sees live readings and an alert.
The router finds the function servers through IOTMON_FUNCTION_URLS, as
compose-dev sets it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from eventing.endpoints import FUNCTIONS
from tests.support.auth import GATEWAY_ENV, gateway_headers
from tests.support.kafka_broker import free_port
from tests.support.processes import function_servers, start, stop, wait_listening

pytestmark = pytest.mark.kafka


@pytest.fixture
def system(clean_db, redis_url, kafka_bootstrap, tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": clean_db,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "IOTMON_LOG_LEVEL": "WARNING",
        "IOTMON_ADMIN_PASSWORD": "distributed-admin-passphrase-3",
        **GATEWAY_ENV,
        "IOTMON_RATE_LIMIT": "1000000",  # the test polls
        "IOTMON_TICK_SECONDS": "2",  # the PingSource fires every 2 s instead of every minute
    }
    with function_servers(FUNCTIONS, env, tmp_path) as urls:
        port = free_port()
        router_env = {**env, "IOTMON_FUNCTION_URLS": ",".join(f"{name}={url}" for name, url in urls.items())}
        started = [
            start(["router"], router_env, tmp_path / "router.log"),
            start(["serve", "--port", str(port)], env, tmp_path / "serve.log"),
            start(["simulate", "--health-port", "0"], env, tmp_path / "simulate.log"),
        ]
        url = f"http://127.0.0.1:{port}"
        try:
            wait_listening(url, started[1], tmp_path / "serve.log")
            yield url
            # The simulator first, so that no reading is left behind for the next test's consumers.
            codes = stop(started[2:]) + stop(started[:2])
            logs = {name: (tmp_path / f"{name}.log").read_text()[-2000:] for name in ("simulate", "router", "serve")}
            assert codes == [0, 0, 0], (codes, logs)  # each stops cleanly
        finally:
            stop(started)


def receive(
    client: socketio.SimpleClient, wanted: str, match=lambda data: True, timeout: float = 30.0
) -> dict[str, Any]:
    """The next `wanted` event that `match`es (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            event, data = client.receive(timeout=max(0.0, deadline - time.monotonic()))
        except socketio.exceptions.TimeoutError:
            raise AssertionError(f"no matching {wanted} event within {timeout:.0f} s") from None
        if event == wanted and match(data):
            return data


def test_readings_and_an_alert_reach_a_socketio_client(system):
    client = socketio.SimpleClient()
    client.connect(system, transports=["websocket"])
    try:
        assert client.call("subscribe-device", "device-003")["success"] is True  # sends every second
        assert client.call("subscribe-device", "device-002")["success"] is True
        assert client.call("subscribe-alerts", {})["success"] is True
        # The simulator's readings, through ingest and aggregate, served over HTTP by the router.
        live = receive(client, "sensor-data", lambda d: d["deviceId"] == "device-003" and "timestamp" in d, timeout=40)
        assert live["data"]["unit"] == "hz"
        # A breach sent through the API goes the same way, and evaluate-rule and notify raise the alert.
        # The simulator sends device-002 too, and evaluate-rule ignores readings at or before the newest it has
        # judged: stamped now, a simulator reading judged between or after ours could leave one breach, not the
        # two breach_count asks for. Stamped ahead (ingest allows 5 minutes of clock skew), ours are the newest.
        ahead = datetime.now(UTC) + timedelta(minutes=2)
        for n, value in enumerate((60.0, 61.0)):
            at = (ahead + timedelta(milliseconds=10 * n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            reading = {
                "deviceId": "device-002",
                "timestamp": at,
                "sensorType": "pressure",
                "value": value,
                "unit": "psi",
            }
            answer = httpx.post(f"{system}/api/readings", json=reading, headers=gateway_headers(), timeout=10)
            assert answer.status_code == 202
        breach = receive(client, "sensor-data", lambda d: d["deviceId"] == "device-002" and d["data"]["value"] == 60.0)
        assert breach["data"]["status"] == "critical"
        alert = receive(client, "alert-triggered", lambda d: d["deviceId"] == "device-002")
        assert alert["type"] == "threshold_exceeded" and alert["severity"]
    finally:
        client.disconnect()
