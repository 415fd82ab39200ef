"""The pipeline's functions behind the local router, in `iotmon up`'s process and in worker processes.

One Python process runs Python on one core at a time, so `iotmon up --workers n` (IOTMON_WORKERS) shares the
wiring among n processes: the k-th runs the consumer-group members m with m mod n = k (the KafkaSources'
`consumers`, each member its own partitions), the first also the schedules, the service and the rest. The
workers are `iotmon worker --share k/n` processes on the same PostgreSQL, Redis and event log or Kafka; being
stateless, they need nothing from the main process but its environment. Each reports its router's counts and
lag on stdout once a second (the main process's metrics add them up), stops when the main process is gone
(what it had not committed is delivered again), and is started again when it dies.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import IO

from eventing import topics
from eventing.kafka import KafkaTransport
from eventing.postgres import PostgresTransport
from eventing.router import Router
from eventing.transport import Transport, waiting_s
from eventing.wiring import load_wiring
from functions.aggregate import Aggregate
from functions.escalate_cron import EscalateCron, feeds
from functions.evaluate_rule import EvaluateRule
from functions.ingest import Ingest
from functions.notify import Notify
from iotmon.adapters import gc_tuning
from iotmon.adapters.postgres import db
from iotmon.adapters.redis import clients
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.adapters.settings import Settings

log = logging.getLogger(__name__)

REPORT_EVERY_S = 1.0
RESTART_DELAY_S = 1.0
STOP_TIMEOUT_S = 15.0

Lag = dict[tuple[str, str], int]


def kafka_transport(settings: Settings) -> KafkaTransport:
    kafka = KafkaTransport(settings.server("KAFKA_BOOTSTRAP_SERVERS"), "iotmon")
    kafka.ensure_topics(topics.ALL)
    return kafka


def make_transport(settings: Settings, database_url: str) -> tuple[Transport, str]:
    """Kafka when KAFKA_BOOTSTRAP_SERVERS names it, else the event log in the system's PostgreSQL."""
    if settings.kafka_bootstrap_servers:
        return kafka_transport(settings), "kafka"
    return PostgresTransport(database_url), "postgres"


def make_functions(
    settings: Settings, database_url: str, redis_url: str, transport: Transport
) -> dict[str, Ingest | Aggregate | EvaluateRule | EscalateCron | Notify]:
    """The functions the manifests route to, by Knative service name (each with its own connections)."""
    store = clients.client(redis_url, clients.BATCH_TIMEOUT_S)
    return {
        "ingest": Ingest(db.pool(database_url), transport),
        "aggregate": Aggregate(db.pool(database_url), store, LiveEmitter(redis_url)),
        "evaluate-rule": EvaluateRule(db.pool(database_url), store, transport),
        "escalate-cron": EscalateCron(
            db.pool(database_url),
            store,
            transport,
            escalate_after_s=settings.escalate_after_s,
            waiting=partial(waiting_s, transport, feeds(load_wiring())),
        ),
        "notify": Notify(db.pool(database_url), store, LiveEmitter(redis_url), settings.channels),
    }


def report(router: Router) -> str:
    """A worker's line to the main process: its router's counts and lag."""
    lag = [[group, topic, behind] for (group, topic), behind in router.lag().items()]
    return json.dumps({"counts": dict(router.counts), "lag": lag})


def run_worker(settings: Settings, share: tuple[int, int], stop: threading.Event, out: IO[str]) -> None:
    """The k-th of n routers, with its own functions, until `stop` is set or the main process is gone."""
    assert settings.database_url and settings.redis_url  # the main process passes its servers on
    parent = os.getppid()
    transport, _ = make_transport(settings, settings.database_url)
    functions = make_functions(settings, settings.database_url, settings.redis_url, transport)
    router = Router(transport, load_wiring(), functions, tick_seconds=settings.tick_seconds, share=share).start()
    gc_tuning.tune()
    log.info("worker running", extra={"share": f"{share[0]}/{share[1]}"})
    try:
        while not stop.wait(REPORT_EVERY_S) and os.getppid() == parent:
            print(report(router), file=out, flush=True)
    finally:
        router.stop()
        for function in functions.values():
            function.pool.close()
        transport.close()


class Worker:
    """One `iotmon worker` process, started again whenever it dies, and the last figures it reported."""

    def __init__(self, share: tuple[int, int], environ: Mapping[str, str]) -> None:
        self.share, self.environ = share, dict(environ)
        self.counts: Counter[str] = Counter()  # over every run of the process
        self.lag: Lag = {}
        self._before: Counter[str] = Counter()  # the runs that ended
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=f"worker:{share[0]}", daemon=True)
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> Worker:
        self._thread.start()
        return self

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            command = [sys.executable, "-m", "iotmon.cli", "worker", "--share", f"{self.share[0]}/{self.share[1]}"]
            self._process = subprocess.Popen(command, env=self.environ, stdout=subprocess.PIPE, text=True)
            assert self._process.stdout is not None
            if self._stopping.is_set():  # stop() came as it started
                self._process.terminate()
            for line in self._process.stdout:
                self._take(line)
            code = self._process.wait()
            self._before, self.lag = self.counts.copy(), {}
            if not self._stopping.is_set():
                log.error("worker stopped; starting it again", extra={"share": self.share[0], "code": code})
                self._stopping.wait(RESTART_DELAY_S)

    def _take(self, line: str) -> None:
        try:
            figures = json.loads(line)
            self.counts = self._before + Counter(figures["counts"])
            self.lag = {(group, topic): behind for group, topic, behind in figures["lag"]}
        except (ValueError, KeyError, TypeError):
            log.warning("worker said something else than its figures", extra={"line": line[:200]})

    def stop(self) -> None:
        self._stopping.set()
        if (process := self._process) is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # its router leaves what it has not committed for redelivery
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
        self._thread.join(STOP_TIMEOUT_S)


class Routers:
    """The main process's router and the workers', as one: their counts and lag added up (for the metrics)."""

    def __init__(self, router: Router, workers: list[Worker]) -> None:
        self.router, self.workers = router, workers

    @property
    def counts(self) -> Counter[str]:
        return sum((worker.counts for worker in self.workers), Counter(self.router.counts))

    def lag(self) -> Lag:
        total: Counter[tuple[str, str]] = Counter(self.router.lag())
        for worker in self.workers:
            total.update(worker.lag)
        return dict(total)


def start_workers(
    workers: int, database_url: str, redis_url: str, environ: Mapping[str, str] = os.environ
) -> list[Worker]:
    """Workers 1 … n-1 of n, on the main process's PostgreSQL and Redis."""
    env = {**environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    return [Worker((k, workers), env).start() for k in range(1, workers)]
