"""The watchdog with real processes: a `sleep` working in a directory plays the server."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from iotmon.adapters.watchdog import Watchdog
from tests.support.waiting import wait_for

# A process that starts a watchdog and then the server, prints the server's pid and waits to be killed.
PARENT = """
import subprocess, sys, signal
from iotmon.adapters.watchdog import Watchdog
Watchdog(__import__("pathlib").Path(sys.argv[1]), "sleep", signal.SIGTERM).start()
server = subprocess.Popen(["sleep", "600"], cwd=sys.argv[1], start_new_session=True)
print(server.pid, flush=True)
sys.stdin.read()
"""


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def server() -> Iterator[Callable[..., psutil.Process]]:
    """Start a `sleep` in a directory, optionally deaf to SIGTERM; all killed and reaped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(directory: Path, deaf: bool = False, command: tuple[str, ...] = ("sleep", "600")) -> psutil.Process:
        shell = ["sh", "-c", f"trap '' TERM; exec {' '.join(command)}"]
        started.append(subprocess.Popen(shell if deaf else command, cwd=directory, start_new_session=True))
        process = psutil.Process(started[-1].pid)
        wait_for(lambda: process.name() == command[0], 5, f"{command[0]} running")  # sh has exec'd it
        return process

    yield start
    for each in started:
        with contextlib.suppress(ProcessLookupError):
            each.kill()
        each.wait(5)


def test_stop_stops_the_server_and_the_watchdog(tmp_path: Path, server: Callable[..., psutil.Process]) -> None:
    watchdog = Watchdog(tmp_path, "sleep", signal.SIGTERM).start()
    sleeper = server(tmp_path)
    process = watchdog._process
    assert process is not None and process.poll() is None
    watchdog.stop()
    assert not alive(sleeper)
    assert process.returncode == 0


def test_the_server_stops_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        sleeper = psutil.Process(int(parent.stdout.readline()))
        assert alive(sleeper)
        parent.kill()  # SIGKILL: its own code never runs again
        parent.wait(5)
        wait_for(lambda: not alive(sleeper), 5, "the server stopped after its parent died")
    finally:
        parent.kill()
        parent.wait(5)


def test_a_server_deaf_to_its_stop_signal_is_killed_after_the_timeout(
    tmp_path: Path, server: Callable[..., psutil.Process]
) -> None:
    watchdog = Watchdog(tmp_path, "sleep", signal.SIGTERM, timeout=0.5).start()
    sleeper = server(tmp_path, deaf=True)
    began = time.monotonic()
    watchdog.stop()
    assert not alive(sleeper)
    assert time.monotonic() - began >= 0.5


def test_a_start_stops_an_orphan_left_in_the_directory(tmp_path: Path, server: Callable[..., psutil.Process]) -> None:
    orphan = server(tmp_path)
    watchdog = Watchdog(tmp_path, "sleep", signal.SIGTERM).start()
    try:
        assert not alive(orphan)
    finally:
        watchdog.stop()


def test_processes_of_other_directories_or_names_are_left_alone(
    tmp_path: Path, server: Callable[..., psutil.Process]
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "other").mkdir()
    elsewhere = server(tmp_path / "other")
    not_a_server = server(tmp_path / "mine", command=("tail", "-f", "/dev/null"))
    Watchdog(tmp_path / "mine", "sleep", signal.SIGTERM).start().stop()
    assert alive(elsewhere)
    assert alive(not_a_server)


def test_one_watchdog_per_directory_at_a_time(tmp_path: Path) -> None:
    first = Watchdog(tmp_path, "sleep", signal.SIGTERM).start()
    try:
        with pytest.raises(RuntimeError, match="in use by another iotmon process"):
            Watchdog(tmp_path, "sleep", signal.SIGTERM, lock_timeout=0.3).start()
    finally:
        first.stop()
    Watchdog(tmp_path, "sleep", signal.SIGTERM, lock_timeout=0.3).start().stop()
