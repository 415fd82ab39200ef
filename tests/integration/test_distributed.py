"""Local distributed mode as the README runs it: `iotmon router`, `iotmon serve` and `iotmon simulate`
as separate processes on real Kafka, PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from tests.support.kafka_broker import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.kafka
IOTMON = str(Path(sys.executable).parent / "iotmon")


@pytest.fixture
def processes(clean_db, redis_url, kafka_bootstrap) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": clean_db,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "IOTMON_LOG_LEVEL": "WARNING",
        "IOTMON_ADMIN_PASSWORD": "distributed-admin",
        "IOTMON_RATE_LIMIT": "1000000",  # the test polls
    }
    port = free_port()
    started = [
        subprocess.Popen([IOTMON, "router"], env=env, stdout=subprocess.DEVNULL),
        subprocess.Popen([IOTMON, "serve", "--port", str(port)], env=env),
        subprocess.Popen([IOTMON, "simulate", "--health-port", "0"], env=env, stderr=subprocess.DEVNULL),
    ]
    try:
        yield f"http://127.0.0.1:{port}"
        for process in started:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(30) for process in started] == [0, 0, 0]  # each stops cleanly
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()


def devices_reporting(url: str) -> set[str]:
    try:
        devices = httpx.get(f"{url}/api/devices", timeout=5).json()["data"]["devices"]
    except httpx.HTTPError:
        return set()
    return {d["deviceId"] for d in devices if d["lastReading"]}


def test_the_processes_work_together(processes):
    url = processes
    seed = {f"device-00{n}" for n in range(1, 6)}
    wait_for(lambda: seed <= devices_reporting(url), timeout=40, what="the simulator's devices through Kafka", every=0.5)
    for value in (60.0, 61.0):
        at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        reading = {"deviceId": "device-002", "timestamp": at, "sensorType": "pressure", "value": value, "unit": "psi"}
        assert httpx.post(f"{url}/api/readings", json=reading).status_code == 202
    alerts = wait_for(
        lambda: [a for a in httpx.get(f"{url}/api/alerts").json()["data"]["alerts"] if a["deviceId"] == "device-002"],
        timeout=20,
        what="the alert from the router's functions",
    )
    assert [a["type"] for a in alerts] == ["threshold_exceeded"]
