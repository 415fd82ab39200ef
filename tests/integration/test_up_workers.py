"""`iotmon up --workers 2`: a worker process runs half of the functions' consumer-group members.

The event log has four partitions; the worker (member 1 of each group of two) reads partitions 1 and 3,
where the simulator's device-001, -002 and -003 land (their keys' CRC-32 mod 4), the main process 0 and 2
(device-004, -005). So every seed device's live value keeps moving only while both processes work, also
after the worker is killed (it is started again), and a stop leaves no worker behind, nor a crash of the
main process.
"""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psutil
import pytest

from tests.support.kafka_broker import free_port
from tests.support.up import Up, kill_leftovers
from tests.support.waiting import wait_for

SEED_DEVICES = ["device-001", "device-002", "device-003", "device-004", "device-005"]
PARTITIONS = 4  # eventing.postgres.PostgresTransport's default


def worker_processes(up: Up) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(up.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            if "worker" in child.cmdline():
                found.append(child)
    return found


def all_newer_than(url: str, since: datetime) -> bool:
    """Every seed device has a live value measured after `since`."""
    for device in SEED_DEVICES:
        response = httpx.get(f"{url}/api/devices/{device}/current", timeout=10)
        current = response.json()["data"]["current"] if response.status_code == 200 else None
        if not current or datetime.fromisoformat(current["timestamp"]) <= since:
            return False
    return True


def delivered(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(r'^iotmon_router_events_total\{outcome="delivered"\} (\S+)$', text, re.MULTILINE)
    assert match, text[:2000]
    return float(match.group(1))


@pytest.fixture
def up(tmp_path) -> Iterator[Up]:
    env = {"IOTMON_RATE_LIMIT": "100000"}  # the test polls five devices' live values
    started = Up(free_port(), tmp_path / "data", tmp_path / "up.log", fresh=True, env=env, args=["--workers", "2"])
    yield started
    started.kill()
    kill_leftovers(tmp_path / "data")


def test_the_seed_devices_are_spread_over_both_processes() -> None:
    members = {zlib.crc32(device.encode()) % PARTITIONS % 2 for device in SEED_DEVICES}
    assert members == {0, 1}  # else the test below would not see the worker's part


def test_two_processes_share_the_pipeline_and_a_killed_worker_starts_again(up: Up) -> None:
    url = up.wait_for_url()
    (worker,) = wait_for(lambda: worker_processes(up), 10, "the worker process")
    assert worker.cmdline()[-2:] == ["--share", "1/2"]
    since = datetime.now(UTC)
    wait_for(lambda: all_newer_than(url, since), 20, "every seed device's live value moving")
    before = delivered(url)

    worker.kill()
    wait_for(lambda: [w for w in worker_processes(up) if w.pid != worker.pid], 15, "a new worker")
    since = datetime.now(UTC)
    wait_for(lambda: all_newer_than(url, since), 20, "every seed device moving again")
    assert delivered(url) > before  # the metrics add up the processes' counts, a new worker's to the old one's

    (last,) = worker_processes(up)
    assert up.terminate() == 0, up.stderr()
    assert not last.is_running() or last.status() == psutil.STATUS_ZOMBIE


def test_a_worker_stops_when_the_main_process_is_killed(up: Up) -> None:
    up.wait_for_url()
    (worker,) = wait_for(lambda: worker_processes(up), 10, "the worker process")
    up.proc.kill()
    worker.wait(10)  # raises psutil.TimeoutExpired if it outlived the main process
