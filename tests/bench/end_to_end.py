"""The whole chain on a real Kafka broker: ingest → aggregate / evaluate-rule → notify → Socket.IO.

`iotmon up` runs as its own process on the broker, PostgreSQL and Redis (as in
local distributed mode), so the measuring client does not share its CPU time
with the system under test:

1. throughput: gateway batches on `sensors-data`, timed from the first produce
   until every consumer group (ingest on `sensors-data`; aggregate and
   evaluate-rule on `metrics`) has committed everything;
2. reading → browser: single readings of the five seed devices, each timed from
   produce to the `sensor-data` a Socket.IO client receives;
3. out-of-range reading → `alert-triggered`: devices made for the run get one
   breaching reading (one is enough); timed from its produce.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import socketio
from confluent_kafka import Consumer, TopicPartition

from eventing import topics
from eventing.endpoints import FUNCTIONS
from eventing.events import batch_event, reading_event
from eventing.kafka import KafkaTransport
from iotmon.adapters.postgres import db
from iotmon.simulator import generate_batches, load_devices, register_devices
from tests.support import servers
from tests.support.auth import GATEWAY_ENV
from tests.support.kafka_broker import free_port
from tests.support.processes import function_servers, start, stop
from tests.support.waiting import wait_for

# A batch's key is its gateway, and ordered delivery is one event at a time per partition: enough gateways
# to spread over the manifests' 6 partitions evenly, as a plant's would.
GATEWAYS = 24
GROUPS = {"ingest": topics.SENSORS_DATA, "aggregate": topics.METRICS, "evaluate-rule": topics.METRICS}
SEED_DEVICES = [
    ("device-001", "temperature", "celsius", 50),
    ("device-002", "pressure", "psi", 30),
    ("device-003", "vibration", "hz", 50),
    ("device-004", "production", "units/hour", 300),
    ("device-005", "quality", "percentage", 92),
]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat(timespec="microseconds").replace("+00:00", "Z")


@contextmanager
def system(url: str, redis_url: str, bootstrap: str) -> Iterator[str]:
    """`iotmon up` as a separate process on the given servers; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PORT": str(port),
        "IOTMON_LOG_LEVEL": "WARNING",
        **GATEWAY_ENV,
    }
    iotmon = Path(sys.executable).parent / "iotmon"
    process = subprocess.Popen([str(iotmon), "up", "--no-simulator"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if "is running:" in line:
                break
        else:
            raise RuntimeError("iotmon up ended before it served")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def distributed(url: str, redis_url: str, bootstrap: str, workdir: Path) -> Iterator[None]:
    """Local distributed mode, as Knative runs the chain: `iotmon router` delivering one CloudEvent per HTTP
    request to the five `iotmon func run` servers, each its own process."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "IOTMON_LOG_LEVEL": "WARNING",
    }
    with function_servers(FUNCTIONS, env, workdir) as urls:
        log = workdir / "router.log"
        router = start(["router"], {**env, "IOTMON_FUNCTION_URLS": ",".join(f"{n}={u}" for n, u in urls.items())}, log)
        try:
            wait_for(lambda: "router running" in log.read_text(), timeout=60, what="the router")
            yield
        finally:
            stop([router])


def lag(consumer: Consumer, probes: dict[str, Consumer]) -> int:
    """Records not yet committed by the system's consumer groups (`probes`: a consumer in each group that never
    joins it, made once: a new one per look would load the broker the bench measures)."""
    behind = 0
    for group, topic in GROUPS.items():
        partitions = [TopicPartition(topic, p) for p in consumer.list_topics(topic).topics[topic].partitions]
        for tp in probes[group].committed(partitions, timeout=10):
            high = consumer.get_watermark_offsets(tp, timeout=10)[1]
            behind += high - max(tp.offset, 0)
    return behind


def throughput(transport: KafkaTransport, bootstrap: str, readings: int, batch_size: int, devices: int) -> float:
    start = datetime.now(UTC) - timedelta(seconds=readings / 20_000 + 60)
    events = [
        batch_event(batch, "/bench/e2e", key=gateway)
        for gateway, batch in generate_batches(
            readings, devices=devices, batch_size=batch_size, rate=20_000, start=start, gateways=GATEWAYS
        )
    ]
    watcher = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-lag-watcher"})
    probes = {g: Consumer({"bootstrap.servers": bootstrap, "group.id": g, "enable.auto.commit": False}) for g in GROUPS}
    try:
        started = time.perf_counter()
        transport.publish(topics.SENSORS_DATA, events)
        time.sleep(0.5)
        # every 0.25 s: each look is 4 requests a partition to the broker the bench measures
        wait_for(lambda: lag(watcher, probes) == 0, timeout=240, what="the consumer groups to catch up", every=0.25)
        return readings / (time.perf_counter() - started)
    finally:
        for consumer in (watcher, *probes.values()):
            consumer.close()


class Listener:
    """A Socket.IO client in a thread, noting when each event arrives."""

    def __init__(self, url: str, devices: list[str]) -> None:
        self.client = socketio.SimpleClient()
        self.client.connect(url, transports=["websocket"])
        for device in devices:
            self.client.call("subscribe-device", device)
        self.client.call("subscribe-alerts", {})
        self.seen: dict[tuple[str, str], float] = {}
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while True:
            try:
                event, data = self.client.receive()
            except Exception:
                return
            at = time.perf_counter()
            if event == "sensor-data":
                self.seen.setdefault(("sensor-data", f"{data['deviceId']}@{data['timestamp']}"), at)
            elif event == "alert-triggered" and data.get("action") == "triggered":
                self.seen.setdefault(("alert", data["deviceId"]), at)

    def close(self) -> None:
        self.client.disconnect()


def reading_latency(transport: KafkaTransport, listener: Listener, count: int, per_second: float) -> np.ndarray:
    sent: dict[tuple[str, str], float] = {}
    for n in range(count):
        time.sleep(max(0.0, 1 / per_second))
        device, sensor, unit, value = SEED_DEVICES[n % len(SEED_DEVICES)]
        at = datetime.now(UTC)
        # Milliseconds: the system's timestamp format (iotmon.core.timestamps), which the service sends back.
        timestamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        sent[("sensor-data", f"{device}@{timestamp}")] = time.perf_counter()
        transport.publish(
            topics.SENSORS_DATA,
            [
                reading_event(
                    {"deviceId": device, "timestamp": timestamp, "sensorType": sensor, "value": value, "unit": unit},
                    "/bench",
                )
            ],
        )
    wait_for(lambda: set(sent) <= set(listener.seen), timeout=30, what="every sensor-data event")
    return np.array([(listener.seen[key] - t) * 1000 for key, t in sent.items()])


def alert_devices(url: str, count: int) -> list[str]:
    """Devices of the run's own, configured before the system starts (its config cache is then warm)."""
    devices = [f"bench-alert-{n:03d}" for n in range(count)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, device_type, location, unit, normal_min, normal_max, alert_max)"
            " SELECT d, 'temperature', 'bench', 'celsius', 20, 80, 85 FROM unnest(%s::text[]) d ON CONFLICT DO NOTHING",
            (devices,),
        )
    return devices


def alert_latency(transport: KafkaTransport, listener: Listener, devices: list[str]) -> np.ndarray:
    sent: dict[tuple[str, str], float] = {}
    for device in devices:
        at = stamp()
        sent[("alert", device)] = time.perf_counter()
        reading = {"deviceId": device, "timestamp": at, "sensorType": "temperature", "value": 95.0, "unit": "celsius"}
        transport.publish(topics.SENSORS_DATA, [reading_event(reading, "/bench")])
        time.sleep(0.25)
    wait_for(lambda: set(sent) <= set(listener.seen), timeout=30, what="every alert-triggered event")
    return np.array([(listener.seen[key] - t) * 1000 for key, t in sent.items()])


@contextmanager
def stores(directory: Path, devices: int) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL (migrated, the load's devices registered: the readings of others are dead-lettered) and
    Redis: (database URL, Redis URL)."""
    with servers.postgres(directory / "pg") as url, servers.redis(directory / "redis") as redis_url:
        db.migrate(url)
        register_devices(url, load_devices(devices))
        yield url, redis_url


def measure(
    readings: int = 200_000,
    batch_size: int = 500,
    devices: int = 1000,
    latency_readings: int = 200,
    latency_rate: float = 10.0,
    alerts: int = 20,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="iotmon-e2e-") as tmp:
        with stores(Path(tmp) / "in-process", devices) as (url, redis_url):
            breaching = alert_devices(url, alerts)
            say("end to end: starting the Kafka broker and `iotmon up` on it…")
            with servers.kafka() as bootstrap, system(url, redis_url, bootstrap) as service:
                transport = KafkaTransport(bootstrap, "bench-e2e")
                listener = Listener(service, [device for device, *_ in SEED_DEVICES])
                try:
                    say(
                        f"end to end: reading → Socket.IO at {latency_readings / latency_rate * 1:.0f} s of {latency_rate:g} readings/s…"
                    )
                    readings_ms = reading_latency(transport, listener, latency_readings, latency_rate)
                    say(f"end to end: {alerts} out-of-range readings → alert-triggered…")
                    alerts_ms = alert_latency(transport, listener, breaching)
                    say(f"end to end: {readings:,} readings through every function…")
                    rate = throughput(transport, bootstrap, readings, batch_size, devices)
                finally:
                    listener.close()
                    transport.close()
        # The same start as the in-process run (fresh PostgreSQL and Redis, the same devices): not its 200,000
        # readings, open alerts and devices gone offline meanwhile, nor autovacuum catching up after them.
        say(f"end to end over HTTP: {readings:,} readings through the router and the five function servers…")
        with (
            stores(Path(tmp) / "http", devices) as (url, redis_url),
            servers.kafka() as bootstrap,
            distributed(url, redis_url, bootstrap, Path(tmp)),
        ):
            transport = KafkaTransport(bootstrap, "bench-http")
            try:
                http_rate = throughput(transport, bootstrap, readings, batch_size, devices)
            finally:
                transport.close()
    return {
        "e2e_readings_per_s": round(rate),
        "http_e2e_readings_per_s": round(http_rate),
        "http_ratio": round(http_rate / rate, 2),
        "reading_to_socket_p50_ms": round(float(np.percentile(readings_ms, 50)), 1),
        "reading_to_socket_p99_ms": round(float(np.percentile(readings_ms, 99)), 1),
        "alert_p50_ms": round(float(np.percentile(alerts_ms, 50)), 1),
        "alert_p99_ms": round(float(np.percentile(alerts_ms, 99)), 1),
    }
