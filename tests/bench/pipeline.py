"""`make bench`: readings through a real Kafka broker → ingest → PostgreSQL, against the raw COPY ceiling.

1. raw ceiling: COPY the same rows straight into `sensor_readings` (all indexes on);
2. throughput: the readings as gateway batch events on `sensors-data`, consumed by the
   local router and the ingest function as in a deployment, timed from the first
   produce to the last reading committed in PostgreSQL;
3. latency: a paced stream, each event timed from produce to committed.

`python -m tests.bench` runs it with the end-to-end benchmark and prints the report.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from cloudevents.http import CloudEvent

from eventing import topics
from eventing.events import batch_event
from eventing.kafka import KafkaTransport
from eventing.router import Router
from eventing.wiring import load_wiring
from functions.ingest import Ingest
from iotmon.adapters.postgres import db, storage
from iotmon.core.readings import parse_reading
from iotmon.simulator import generate_batches, load_devices, register_devices
from tests.support import servers


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_events(total: int, batch_size: int, devices: int, rate: float, run: str) -> list[CloudEvent]:
    start = datetime.now(UTC) - timedelta(seconds=total / rate + 60)
    return [
        batch_event(readings, f"/bench/{run}", key=gateway)
        for gateway, readings in generate_batches(
            total, devices=devices, batch_size=batch_size, rate=rate, start=start, seed=run
        )
    ]


def raw_copy(url: str, events: Sequence[CloudEvent], chunk: int = 10_000) -> float:
    """Rows per second of plain COPY of the same readings into the same table."""
    rows = [parse_reading(r) for e in events for r in e.get_data()["readings"]]
    with psycopg.connect(url, autocommit=True) as conn:
        storage.ensure_partitions(conn, rows)
        started = time.perf_counter()
        for i in range(0, len(rows), chunk):
            with conn.transaction():
                storage._copy(conn, "sensor_readings", rows[i : i + chunk])
        seconds = time.perf_counter() - started
        conn.execute("TRUNCATE sensor_readings")
    return len(rows) / seconds


class TimedIngest:
    """The ingest function, noting when each event's readings were committed."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.done: dict[str, float] = {}
        self.readings = 0
        self.changed = threading.Condition()

    def __call__(self, events: Sequence[CloudEvent]) -> None:
        self.ingest(events)
        now = time.perf_counter()
        with self.changed:
            for event in events:
                self.done[event["id"]] = now
            self.changed.notify_all()

    def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not ids <= self.done.keys():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(ids - self.done.keys())} events not stored after {timeout:.0f} s")
                self.changed.wait(1)


def pipeline_router(transport: KafkaTransport, function: TimedIngest, run: str) -> Router:
    wiring = load_wiring()
    subscriptions = tuple(
        replace(s, group=f"{s.group}-bench-{run}") for s in wiring.subscriptions if s.function == "ingest"
    )
    return Router(transport, replace(wiring, subscriptions=subscriptions, schedules=()), {"ingest": function})


def warm_up(transport: KafkaTransport) -> None:
    """An idempotent producer's first send waits about a second for its producer id: not ingest's time."""
    transport.ensure_topics(["bench-warm-up"], partitions=1)
    transport.publish("bench-warm-up", [batch_event([], "/bench", key="warm-up")])


def throughput(transport: KafkaTransport, function: TimedIngest, events: list[CloudEvent], readings: int) -> float:
    warm_up(transport)
    started = time.perf_counter()
    transport.publish(topics.SENSORS_DATA, events)
    say(f"  produced {len(events)} events in {time.perf_counter() - started:.1f} s; waiting for ingest…")
    function.wait_for({e["id"] for e in events}, timeout=240)
    return readings / (max(function.done[e["id"]] for e in events) - started)


def latency(
    transport: KafkaTransport, function: TimedIngest, events: list[CloudEvent], per_second: float
) -> np.ndarray:
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for n, event in enumerate(events):
        pause = started + n / per_second - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent[event["id"]] = time.perf_counter()
        transport.publish(topics.SENSORS_DATA, [event])
    function.wait_for(set(sent), timeout=120)
    return np.array([(function.done[i] - t) * 1000 for i, t in sent.items()])


def measure(
    readings: int = 600_000,
    batch_size: int = 500,
    devices: int = 1000,
    latency_events: int = 400,
    latency_rate: float = 20.0,
) -> dict[str, Any]:
    run = datetime.now(UTC).strftime("%H%M%S")
    with tempfile.TemporaryDirectory(prefix="iotmon-bench-") as tmp, servers.postgres(Path(tmp) / "pg") as url:
        db.migrate(url)
        register_devices(url, load_devices(devices))  # readings of devices not registered are dead-lettered
        say("pipeline: starting the Kafka broker (jars fetched once from Maven Central)…")
        with servers.kafka() as bootstrap:
            say(f"pipeline: generating {readings:,} readings…")
            events = make_events(readings, batch_size, devices, 20_000, run)
            paced = make_events(latency_events * batch_size, batch_size, devices, 20_000, run + "L")
            say("pipeline: raw ceiling, COPY straight into sensor_readings…")
            raw_rate = raw_copy(url, events)
            transport = KafkaTransport(bootstrap, "bench")
            function = TimedIngest(Ingest(db.pool(url), transport))
            router = pipeline_router(transport, function, run).start()
            try:
                say("pipeline: throughput, Kafka → ingest → PostgreSQL…")
                rate = throughput(transport, function, events, readings)
                say(f"pipeline: latency at {latency_rate:g} events/s of {batch_size} readings…")
                lat = latency(transport, function, paced, latency_rate)
            finally:
                router.stop()
                transport.close()
            with psycopg.connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM sensor_readings").fetchone()[0]
    return {
        "readings_per_s": round(rate),
        "raw_copy_rows_per_s": round(raw_rate),
        "ratio": round(rate / raw_rate, 3),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "latency_readings_per_s": round(latency_rate * batch_size),
        "readings": readings,
        "batch_size": batch_size,
        "stored_exactly_once": stored == readings + latency_events * batch_size,
    }
