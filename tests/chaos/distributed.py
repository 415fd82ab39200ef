"""Local distributed mode as the README starts it, every part its own process on loopback: a real Kafka broker,
PostgreSQL and Redis servers the run can stop and start at the same address, the five function servers, the
router and the service; and the faults that can befall each.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Mapping
from pathlib import Path

from cloudevents.http import CloudEvent
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from eventing import topics
from eventing.binding import decode
from eventing.endpoints import FUNCTIONS
from eventing.wiring import load_wiring
from iotmon.adapters.postgres import db
from tests.chaos.components import Command, kill_tree, pause
from tests.chaos.load import prepare_devices
from tests.chaos.system import Fault, Injected, timed
from tests.support.auth import GATEWAY_ENV
from tests.support.kafka_broker import KafkaBroker, free_port
from tests.support.outages import Postgres, Redis

TICK_S = 10  # escalate-cron every 10 s, as `iotmon up` runs it, not every minute
ESCALATE_AFTER_S = 15  # so that a long breach escalates during the run


class Distributed:
    name = "distributed"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.kafka = KafkaBroker()
        self.postgres = Postgres(workdir / "postgres")
        self.redis = Redis(workdir / "redis")
        self.functions: dict[str, Command] = {}
        self.router: Command | None = None
        self.service: Command | None = None
        self.url = ""
        self._env: dict[str, str] = {}

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def start(self) -> None:
        self.kafka.start()
        self.kafka.create_topics(list(topics.ALL))
        database_url, redis_url = self.postgres.start(), self.redis.start()
        db.migrate(database_url)
        prepare_devices(database_url)
        self._env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "IOTMON_LOG_LEVEL": "WARNING",
            "IOTMON_RATE_LIMIT": "1000000",  # the load, the probe and the checks all poll
            "IOTMON_ADMIN_PASSWORD": "chaos-admin-passphrase-7",
            **GATEWAY_ENV,
            "IOTMON_TICK_SECONDS": str(TICK_S),
            "ESCALATE_AFTER_S": str(ESCALATE_AFTER_S),
        }
        for name in FUNCTIONS:
            port = free_port()
            self.functions[name] = Command(
                name,
                ["func", "run", name, "--port", str(port)],
                self._env,
                self.workdir / f"func-{name}.log",
                url=f"http://127.0.0.1:{port}",
            )
            self.functions[name].start()
        self.router = Command(
            "router", ["router"], self.tool_env(), self.workdir / "router.log", ready_text="router running"
        )
        self.router.start()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.service = Command(
            "service", ["serve", "--port", str(port)], self._env, self.workdir / "service.log", url=self.url
        )
        self.service.start()

    def tool_env(self) -> Mapping[str, str]:
        urls = ",".join(f"{name}={command.url}" for name, command in self.functions.items())
        return {**self._env, "IOTMON_FUNCTION_URLS": urls}

    def commands(self) -> list[Command]:
        return [*self.functions.values(), *(c for c in (self.router, self.service) if c is not None)]

    # ------------------------------------------------------------------ faults

    def faults(self) -> list[Fault]:
        return [
            Fault("kill -9 function", lambda rng: self._kill(rng.choice(list(self.functions.values())), rng)),
            Fault("SIGTERM function", lambda rng: self._term(rng.choice(list(self.functions.values())), rng)),
            Fault("kill -9 router", lambda rng: self._kill(self._router(), rng)),
            Fault("SIGTERM router", lambda rng: self._term(self._router(), rng)),
            Fault("kill -9 service", lambda rng: self._kill(self._service(), rng)),
            Fault("SIGTERM service", lambda rng: self._term(self._service(), rng)),
            Fault("stop postgres", self._stop_postgres),
            Fault("kill -9 postgres", self._kill_postgres),
            Fault("stop redis", self._stop_redis),
            Fault("SIGSTOP kafka", self._pause_kafka),
        ]

    def _router(self) -> Command:
        assert self.router is not None
        return self.router

    def _service(self) -> Command:
        assert self.service is not None
        return self.service

    def _kill(self, command: Command, rng: random.Random) -> Injected:
        return Injected(f"kill -9 {command.name}", timed(command.kill, command.start, rng.uniform(0.5, 3)))

    def _term(self, command: Command, rng: random.Random) -> Injected:
        codes: list[int] = []
        down = timed(lambda: codes.append(command.terminate()), command.start, rng.uniform(0.5, 3))
        return Injected(f"SIGTERM {command.name} (exit {codes[0]})", down)

    def _stop_postgres(self, rng: random.Random) -> Injected:
        return Injected("stop postgres", timed(self.postgres.stop, self.postgres.start, rng.uniform(1, 6)))

    def _kill_postgres(self, rng: random.Random) -> Injected:
        def crash() -> None:
            postmaster = int((self.postgres.server.directory / "postmaster.pid").read_text().split()[0])
            kill_tree(postmaster)
            self.postgres.stop()  # its watchdog, which has nothing left to stop

        return Injected("kill -9 postgres", timed(crash, self.postgres.start, rng.uniform(1, 6)))

    def _stop_redis(self, rng: random.Random) -> Injected:
        return Injected("stop redis (back empty)", timed(self.redis.stop, self.redis.start, rng.uniform(1, 6)))

    def _pause_kafka(self, rng: random.Random) -> Injected:
        assert self.kafka.proc is not None
        pgid = self.kafka.proc.pid
        return Injected(
            "SIGSTOP kafka", timed(lambda: pause(pgid, True), lambda: pause(pgid, False), rng.uniform(1, 5))
        )

    # ------------------------------------------------------------------ inspection

    def backlog(self) -> int:
        behind = 0
        for topic, group in sorted(load_wiring().groups()):
            consumer = Consumer({"bootstrap.servers": self.kafka.bootstrap_servers, "group.id": group})
            try:
                partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
                for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10):
                    high = consumer.get_watermark_offsets(tp, timeout=10)[1]
                    behind += high - max(tp.offset, 0)
            finally:
                consumer.close()
        return behind

    def records(self, topic: str) -> list[CloudEvent]:
        """Every record of the topic, read from the beginning by a group of its own."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.kafka.bootstrap_servers,
                "group.id": f"chaos-read-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
            }
        )
        try:
            ends = {}
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    ends[p] = high
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
            events: list[CloudEvent] = []
            while ends:
                message = consumer.poll(10)
                if message is None:
                    raise RuntimeError(f"{topic}: no record within 10 s, {ends} still to read")
                if message.error():
                    continue
                events.append(decode(_headers(message.headers()), message.key(), message.value()))
                if (message.offset() or 0) + 1 >= ends.get(message.partition() or 0, 0):
                    ends.pop(message.partition() or 0, None)
            return events
        finally:
            consumer.close()

    def close(self) -> None:
        for command in reversed(self.commands()):
            command.close()
        self.redis.stop()
        self.postgres.stop()
        self.kafka.stop()

    def unclean_exits(self) -> dict[str, list[int]]:
        return {c.name: c.unclean_exits for c in self.commands() if c.unclean_exits}


def _headers(
    raw: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> list[tuple[str, bytes]]:
    pairs = raw.items() if isinstance(raw, dict) else raw or []
    return [(name, value) for name, value in pairs if isinstance(value, bytes)]
