"""Embedded mode: `iotmon up` (its own PostgreSQL and Redis, the event log in PostgreSQL) as a user runs it, on
one port and data directory, killed (-9) or stopped (SIGTERM) and started again on the same data.

The event log deletes what every consumer group has handled, so a group of the run's own (`chaos-watch`),
which never commits, keeps every record of `alerts` for the final check, as a retained Kafka topic would.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path

from cloudevents.http import CloudEvent

from eventing import topics
from eventing.binding import decode
from eventing.postgres import PostgresTransport
from eventing.wiring import load_wiring
from tests.chaos.load import prepare_devices
from tests.chaos.system import Fault, Injected, timed
from tests.support.kafka_broker import free_port
from tests.support.up import Up, kill_leftovers

WATCH_GROUP = "chaos-watch"
ESCALATE_AFTER_S = 15


class Embedded:
    name = "embedded"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "IOTMON_RATE_LIMIT": "1000000",
            "IOTMON_LOG_LEVEL": "WARNING",
            "ESCALATE_AFTER_S": str(ESCALATE_AFTER_S),
        }
        self.up: Up | None = None
        self.starts = 0
        self.unclean: list[int] = []

    @property
    def database_url(self) -> str:
        """The running system's PostgreSQL, from its postmaster.pid (pid, dir, start, port, socket dir, …)."""
        lines = (self.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
        return f"postgresql://postgres:@/postgres?host={lines[4]}&port={lines[3]}"

    def start(self) -> None:
        self._up(fresh=True)
        prepare_devices(self.database_url)
        transport = PostgresTransport(self.database_url, max_connections=1)
        try:
            transport.consumer(topics.ALERTS, WATCH_GROUP).close()  # joins at offset 0 and stays there
        finally:
            transport.close()

    def _up(self, fresh: bool = False) -> None:
        self.starts += 1
        up = Up(self.port, self.data_dir, self.workdir / f"up-{self.starts}.log", fresh=fresh, env=self.env)
        self.up = up
        up.wait_for_url()

    def tool_env(self) -> Mapping[str, str]:
        return {**os.environ, **self.env, "IOTMON_DATA_DIR": str(self.data_dir), "DATABASE_URL": self.database_url}

    # ------------------------------------------------------------------ faults

    def faults(self) -> list[Fault]:
        return [Fault("kill -9 iotmon up", self._kill), Fault("SIGTERM iotmon up", self._term)]

    def _kill(self, rng: random.Random) -> Injected:
        def crash() -> None:
            assert self.up is not None
            self.up.proc.kill()  # no cleanup of any kind; its watchdogs stop PostgreSQL and Redis
            self.up.proc.wait(10)
            self.up.kill()

        return Injected("kill -9 iotmon up", timed(crash, self._up, rng.uniform(0.5, 3)))

    def _term(self, rng: random.Random) -> Injected:
        codes: list[int] = []

        def stop() -> None:
            assert self.up is not None
            try:
                codes.append(self.up.terminate(timeout=60))  # it handles what it accepted before exiting
            except AssertionError:
                codes.append(-9)
            if codes[-1] != 0:
                self.unclean.append(codes[-1])
            self.up.kill()

        down = timed(stop, self._up, rng.uniform(0.5, 3))
        return Injected(f"SIGTERM iotmon up (exit {codes[0]})", down)

    # ------------------------------------------------------------------ inspection

    def backlog(self) -> int:
        groups = load_wiring().groups()
        transport = PostgresTransport(self.database_url, max_connections=1)
        try:
            return sum(n for where, n in transport.backlog().items() if where in groups)
        finally:
            transport.close()

    def records(self, topic: str) -> list[CloudEvent]:
        transport = PostgresTransport(self.database_url, max_connections=1)
        try:
            return [decode(r.headers, r.key, r.value) for r in transport.records(topic)]
        finally:
            transport.close()

    def close(self) -> None:
        if self.up is not None:
            try:
                self.up.terminate(timeout=60)
            finally:
                self.up.kill()
        kill_leftovers(self.data_dir)

    def unclean_exits(self) -> dict[str, list[int]]:
        return {"iotmon up": self.unclean} if self.unclean else {}
