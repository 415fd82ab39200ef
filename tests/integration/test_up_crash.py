"""`iotmon up` killed with SIGKILL: its embedded servers stop with it, and the next start recovers alone.

A watchdog child per server stops it once `iotmon up` is gone. When a crash took the watchdogs too, the
next start stops the servers left running, or, when they died as well, clears the stale pid files they
left; either way it comes up healthy with the data the crashed run had committed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.auth import gateway_headers
from tests.support.devices import register
from tests.support.kafka_broker import free_port
from tests.support.up import Up, kill_leftovers, server_processes
from tests.support.waiting import wait_for

SERVERS = {"postgres", "redis-server"}
DEVICE = "device-crash-test"
ADMIN_PASSWORD = "crash-test-admin"  # the first start's admin, who registers the device


def servers(data_dir: Path) -> list[psutil.Process]:
    """The embedded servers' processes working in the data directory."""
    found = []
    for process in server_processes(data_dir):
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.name() in SERVERS:
                found.append(process)
    return found


def main_servers(data_dir: Path) -> list[psutil.Process]:
    """The servers' main processes (PostgreSQL's workers, its connections' backends among them, come and go)."""
    found = servers(data_dir)
    pids = {process.pid for process in found}
    return [process for process in found if process.ppid() not in pids]


def watchdogs(up: Up) -> list[psutil.Process]:
    children = psutil.Process(up.proc.pid).children()
    return [child for child in children if "iotmon.adapters.watchdog" in " ".join(child.cmdline())]


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_and_wait(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    wait_for(lambda: not any(alive(p) for p in processes), 10, "the killed processes gone")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's temporary root: as root the embedded PostgreSQL runs as another user, and every pytest
    session that starts (another checkout's too) takes the others' permissions off that root again, so the
    server could no longer open its files by their full paths (crash recovery does)."""
    directory = Path(tempfile.mkdtemp(prefix="iotmon-crash-"))
    yield directory / "data"
    kill_leftovers(directory / "data")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def start(tmp_path: Path, data_dir: Path) -> Iterator[Callable[..., tuple[Up, str]]]:
    """Start `iotmon up` on the test's data directory; afterwards, whatever happened, nothing of it left."""
    started: list[Up] = []

    def up(name: str, fresh: bool = False) -> tuple[Up, str]:
        env = {"IOTMON_ADMIN_PASSWORD": ADMIN_PASSWORD}
        started.append(Up(free_port(), data_dir, tmp_path / f"{name}.log", fresh=fresh, env=env))
        return started[-1], started[-1].wait_for_url()

    yield up
    for each in started:
        each.kill()


def device_ids(url: str) -> set[str]:
    response = httpx.get(f"{url}/api/devices", timeout=10)
    assert response.status_code == 200, response.text
    return {device["deviceId"] for device in response.json()["data"]["devices"]}


def store_a_reading(url: str) -> None:
    """A reading of a new device, registered by the admin, waited for until it is committed."""
    login = httpx.post(f"{url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10)
    token = login.json()["data"]["token"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as admin:
        register(admin, DEVICE)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    reading = {"deviceId": DEVICE, "timestamp": now, "sensorType": "temperature", "value": 21.5, "unit": "celsius"}
    response = httpx.post(f"{url}/api/readings", json=reading, headers=gateway_headers(), timeout=10)
    assert response.status_code < 300, response.text
    wait_for(
        lambda: httpx.get(f"{url}/api/devices/{DEVICE}/current", timeout=10).json()["data"]["current"],
        10,
        "the reading stored",
    )


def assert_healthy_with_the_reading(url: str) -> None:
    health = httpx.get(f"{url}/api/health", timeout=10).json()
    assert health["status"] == "healthy", health
    assert DEVICE in device_ids(url), "the crashed run's committed data is gone"
    history = httpx.get(f"{url}/api/devices/{DEVICE}/history", timeout=10).json()["data"]["readings"]
    assert [reading["value"] for reading in history] == [21.5]


def stop_cleanly(up: Up, data_dir: Path) -> None:
    assert up.terminate() == 0, up.stderr()
    assert servers(data_dir) == []


def test_killed_up_takes_its_servers_along_and_the_next_start_has_its_data(
    data_dir: Path, start: Callable[..., tuple[Up, str]]
) -> None:
    first, url = start("first", fresh=True)
    store_a_reading(url)
    running = servers(data_dir)
    assert {process.name() for process in running} == SERVERS
    assert len(watchdogs(first)) == 2

    first.kill()  # SIGKILL: no Python cleanup runs
    wait_for(
        lambda: not any(alive(p) for p in running),
        10,
        lambda: f"the servers gone; still running: {[p.cmdline() for p in running if alive(p)]}",
    )

    second, url = start("second")
    assert_healthy_with_the_reading(url)
    stop_cleanly(second, data_dir)


@pytest.mark.parametrize("servers_too", [True, False], ids=["everything-killed", "servers-left-running"])
def test_a_start_after_a_crash_recovers_without_help(
    data_dir: Path, start: Callable[..., tuple[Up, str]], servers_too: bool
) -> None:
    first, url = start("first", fresh=True)
    store_a_reading(url)
    left = main_servers(data_dir)
    assert {process.name() for process in left} == SERVERS
    kill_and_wait(watchdogs(first))  # the crash takes the watchdogs first: nothing stops the servers then
    first.kill()
    if servers_too:
        kill_and_wait(server_processes(data_dir))  # every PostgreSQL process, workers too

    if servers_too:  # what they left behind
        assert (data_dir / "postgres" / "postmaster.pid").exists()
        registry = json.loads((data_dir / "redis" / "redis.rdb.settings").read_text())
        assert Path(registry["pidfile"]).exists()
    else:
        assert all(alive(p) for p in left), "the servers should outlive iotmon up without their watchdogs"

    second, url = start("second")
    assert_healthy_with_the_reading(url)
    assert not any(alive(p) for p in left), "the orphans should have been stopped, not joined"
    stop_cleanly(second, data_dir)
