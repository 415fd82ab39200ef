"""`iotmon up` as a user runs it: a real process with embedded PostgreSQL and Redis.

It prints its URL, the simulated seed devices' readings show up in the API,
SIGTERM stops it cleanly (exit 0, no server processes left behind), and a
second start on the same data directory still has the first run's readings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from iotmon.core.timestamps import iso
from tests.support.kafka_broker import free_port
from tests.support.up import Up, kill_leftovers, redis_sockets, server_processes
from tests.support.waiting import wait_for

SEED_DEVICES = ["device-001", "device-002", "device-003", "device-004", "device-005"]


def devices(url: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{url}/api/devices", timeout=10)
    assert response.status_code == 200, response.text
    return {device["deviceId"]: device for device in response.json()["data"]["devices"]}


def history(url: str, device: str, since: datetime) -> list[str]:
    since_text = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    response = httpx.get(f"{url}/api/devices/{device}/history", params={"from": since_text, "limit": 10000}, timeout=10)
    assert response.status_code == 200, response.text
    return [reading["timestamp"] for reading in response.json()["data"]["readings"]]


def test_up_serves_live_readings_stops_cleanly_and_keeps_its_data(tmp_path):
    data_dir = tmp_path / "data"
    started_at = datetime.now(UTC) - timedelta(minutes=1)

    first = Up(free_port(), data_dir, tmp_path / "first.log", fresh=True)
    sockets: tuple[str, ...] = ()
    kept: list[str] = []
    try:
        url = first.wait_for_url()
        assert httpx.get(f"{url}/api/health", timeout=10).json()["status"] == "healthy"

        # The simulator's readings go through the embedded pipeline into PostgreSQL.
        listed = wait_for(
            lambda: (found := devices(url)) and all(found[d]["lastReading"] for d in SEED_DEVICES) and found,
            timeout=8,
            what="a lastReading on all five seed devices",
        )
        assert set(SEED_DEVICES) <= set(listed)
        before = history(url, "device-003", started_at)  # vibration: one reading a second
        after = wait_for(
            lambda: (h := history(url, "device-003", started_at)) and len(h) > len(before) and h, 10, "more history"
        )
        assert after[: len(before)] == before
        assert after == sorted(after)

        servers = server_processes(data_dir)
        commands = [" ".join(p.cmdline()) for p in servers]
        assert any("postgres" in c for c in commands), commands
        assert any("redis-server" in c for c in commands), commands
        sockets = redis_sockets(servers)

        assert first.terminate() == 0, first.stderr()
        left = server_processes(data_dir, sockets)
        assert left == [], f"still running after iotmon up exited: {[' '.join(p.cmdline()) for p in left]}"
        kept = after
    finally:
        first.kill()
        kill_leftovers(data_dir, sockets)

    second = Up(free_port(), data_dir, tmp_path / "second.log", fresh=False)
    try:
        url = second.wait_for_url()
        again = history(url, "device-003", started_at)
        assert set(kept) <= set(again), "readings of the first run are gone after a restart"
        assert all(devices(url)[d]["lastReading"] for d in SEED_DEVICES)
        sockets = redis_sockets(server_processes(data_dir))
        assert second.terminate() == 0, second.stderr()
        assert server_processes(data_dir, sockets) == []
    finally:
        second.kill()
        kill_leftovers(data_dir, sockets)


def test_up_makes_a_gateway_key_on_its_first_start_and_shows_it_once(tmp_path):
    data_dir = tmp_path / "data"
    up = Up(
        free_port(), data_dir, tmp_path / "up.log", fresh=True, env={"IOTMON_GATEWAY_KEY": ""}, args=["--no-simulator"]
    )
    sockets: tuple[str, ...] = ()
    try:
        url = up.wait_for_url()
        sockets = redis_sockets(server_processes(data_dir))

        def shown() -> str | None:
            line = up.lines.get(timeout=10) or ""
            return match.group(1) if (match := re.search(r"gateway API key `(iotmon_gw_[\w-]+)`", line)) else None

        key = wait_for(shown, 10, "the gateway key line")
        reading = {"deviceId": "device-001", "timestamp": iso(datetime.now(UTC)), "sensorType": "t", "value": 1.0}
        sent = httpx.post(f"{url}/api/readings", json={**reading, "unit": "celsius"}, headers={"X-API-Key": key})
        assert sent.status_code == 202, sent.text
        assert httpx.post(f"{url}/api/readings", json={**reading, "unit": "celsius"}).status_code == 401
        assert up.terminate() == 0, up.stderr()
    finally:
        up.kill()
        kill_leftovers(data_dir, sockets)
