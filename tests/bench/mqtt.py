"""`make bench`: MQTT messages through the bridge, into Kafka and end to end into PostgreSQL.

A real Mosquitto and Kafka; the load is five MQTT 5 clients (one per seed device, QoS 1, up to 1,000 messages
unacknowledged each) in a process of their own (tests.bench.mqtt_load), each message a reading with the device's
timestamp under the default topic convention.

1. `mqtt_e2e_readings_per_s`: from the first publish to the last reading stored in PostgreSQL, through the
   bridge (`iotmon bridge mqtt`, a process of its own as deployed), Kafka, the router and ingest, once a first
   reading has gone all the way (so that neither the bridge's subscription nor the router's group join is timed);
2. `mqtt_bridge_msgs_per_s`: from the first publish to the last message acknowledged by the bridge, once
   Kafka has its reading (nothing consumes meanwhile).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from eventing.kafka import KafkaTransport
from eventing.router import Router
from eventing.wiring import load_wiring
from functions.ingest import Ingest
from iotmon.adapters.postgres import db
from iotmon.bridges.mqtt import MqttBridge, translators
from iotmon.core.mqtt_config import parse
from tests.bench.mqtt_load import DEVICES
from tests.support import processes, servers
from tests.support.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Load:
    """The publishers (tests.bench.mqtt_load, a process of its own): connected, their packets made, waiting for
    `go`."""

    def __init__(self, port: int, messages: int, start: datetime) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.mqtt_load", str(port), str(messages), start.isoformat()],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the MQTT load did not start ({self.process.wait(10)})")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.close()

    def finish(self, timeout: float = 30) -> None:
        if self.process.wait(timeout) != 0:
            raise RuntimeError("the MQTT load failed: the broker did not acknowledge every message")


def warm_up(port: int, conn: psycopg.Connection[Any], at: datetime, timeout: float = 60) -> None:
    """One reading through the whole chain before the clock starts: once it is stored, the bridge is subscribed
    and the router's consumers have their partitions (a group join took up to a second of the measured run). It
    is sent again until then (one sent before the bridge subscribed is lost); ingest stores it once all the same."""
    reading = msgspec.json.encode({"value": 1, "unit": "units", "timestamp": at.isoformat()})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subprocess.run(["mosquitto_pub", "-p", str(port), "-V", "mqttv5", "-q", "1", "-t",
                        f"iotmon/bench/{DEVICES[0]}/production", "-m", reading], check=True)  # fmt: skip
        with suppress(TimeoutError):
            wait_until(lambda: stored(conn) >= 1, 1, "")
            return
    raise TimeoutError(f"the first reading was not stored after {timeout:.0f} s")


def stored(conn: psycopg.Connection[Any]) -> int:
    """Readings stored, on one connection kept open: a connection a poll had PostgreSQL start a backend 20 times a
    second beside ingest."""
    row = conn.execute("SELECT count(*) FROM sensor_readings").fetchone()
    return int(row[0]) if row else 0


def wait_until(condition: Any, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter()


def ingest_router(transport: KafkaTransport, url: str) -> Router:
    wiring = load_wiring()
    subscriptions = tuple(
        replace(s, group=f"{s.group}-bench-mqtt") for s in wiring.subscriptions if s.function == "ingest"
    )
    ingest = Ingest(db.pool(url), transport)
    return Router(transport, replace(wiring, subscriptions=subscriptions, schedules=()), {"ingest": ingest})


def measure(messages: int = 100_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="iotmon-bench-mqtt-") as tmp, servers.postgres(Path(tmp) / "pg") as url:
        db.migrate(url)
        broker = Mosquitto(Path(tmp)).start()
        try:
            say("mqtt: starting the Kafka broker…")
            with servers.kafka() as bootstrap:
                transport = KafkaTransport(bootstrap, "bench-mqtt")
                try:
                    e2e, once = _end_to_end(broker, bootstrap, transport, url, messages, Path(tmp))
                    through = _through_bridge(broker, transport, messages)
                finally:
                    transport.close()
        finally:
            broker.stop()
    return {
        "mqtt_bridge_msgs_per_s": round(through),
        "mqtt_e2e_readings_per_s": round(e2e),
        "mqtt_messages": messages,
        "mqtt_stored_exactly_once": once,
    }


def _end_to_end(
    broker: Mosquitto, bootstrap: str, transport: KafkaTransport, url: str, messages: int, tmp: Path
) -> tuple[float, bool]:
    """The bridge as its own process (`iotmon bridge mqtt`, as deployed), the router and ingest in this one."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": url, "IOTMON_MQTT_URL": broker.url,
           "IOTMON_MQTT_CLIENT_ID": "bench-e2e-bridge", "IOTMON_LOG_LEVEL": "WARNING"}  # fmt: skip
    log = tmp / "bridge.log"
    bridge = processes.start(["bridge", "mqtt"], env, log)
    router = ingest_router(transport, url).start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            wait_until(lambda: "mqtt bridge:" in log.read_text(), 60, "the bridge did not start")
            start = datetime.now(UTC) - timedelta(minutes=10)
            warm_up(broker.port, conn, start - timedelta(minutes=1))
            say(f"mqtt: {messages:,} messages end to end (Mosquitto → bridge → Kafka → ingest → PostgreSQL)…")
            publishers = Load(broker.port, messages, start)
            started = time.perf_counter()
            publishers.go()
            done = wait_until(lambda: stored(conn) >= messages + 1, 300, "readings not all stored")
            publishers.finish()
            time.sleep(1)
            once = stored(conn) == messages + 1
    finally:
        router.stop()
        processes.stop([bridge])
    return messages / (done - started), once


def _through_bridge(broker: Mosquitto, transport: KafkaTransport, messages: int) -> float:
    """The bridge in this process, nothing consuming: from the first publish to the last acknowledgement."""
    config = parse(f"broker: {{url: '{broker.url}', version: '5', clientId: bench-bridge}}")
    bridge = MqttBridge(config, transport, translators(config)).start()
    try:
        if not bridge.connected.wait(10):
            raise RuntimeError("the bridge did not connect to Mosquitto")
        time.sleep(0.5)  # its subscription in place
        say(f"mqtt: {messages:,} messages through the bridge into Kafka…")
        publishers = Load(broker.port, messages, datetime.now(UTC) - timedelta(minutes=20))
        started = time.perf_counter()
        publishers.go()
        done = wait_until(lambda: bridge.counts.acknowledged >= messages, 300, "messages not all acknowledged")
        publishers.finish()
    finally:
        bridge.stop()
    return messages / (done - started)


if __name__ == "__main__":
    print(measure())
