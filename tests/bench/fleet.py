"""A plant of 10,000 devices, one reading a second each, through the whole embedded chain.

`iotmon up` (embedded: its event log in PostgreSQL, no broker) takes the load
from `iotmon simulate load`, sent through the REST API with the gateway key as a
plant's gateways would. While it runs, every `SAMPLE_S`: how far behind the
consumer groups are (seconds of readings not yet handled by ingest, aggregate
and evaluate-rule) and the RSS of `iotmon up` with its worker (`--workers 2`:
one process per core). Over the load and the
drain: CPU time per reading of `iotmon up` (with its worker) and of its PostgreSQL and Redis, a
figure that does not depend on what else the machine is doing. Afterwards: that
every device has its live value, statistics windows and rule state; Redis bytes
per device; PostgreSQL bytes per stored reading; and one offline sweep
(escalate-cron's tick) over every device, timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis

from eventing.postgres import PostgresTransport
from functions.escalate_cron import EscalateCron
from iotmon.adapters.embedded import running_postgres
from iotmon.adapters.postgres import db
from iotmon.adapters.redis.rule_state import state_key
from iotmon.simulator import load_devices, register_devices
from tests.support.auth import GATEWAY_KEY
from tests.support.up import for_bench, iotmon_command, redis_sockets, server_processes

DEVICES = int(os.environ.get("FLEET_DEVICES", 10_000))
RUN_S = float(os.environ.get("FLEET_S", 600))  # the 10 minutes; FLEET_S=60 for a quick look
BATCH = 500
WORKERS = 2  # `iotmon up --workers`: one process per core of this machine
SAMPLE_S = 5.0
DRAIN_S = float(os.environ.get("FLEET_DRAIN_S", 120))  # the wait for the backlog to clear after the load
# One reading in 500 anomalous: a plant's rate, not the stress benchmarks' 5 % (at 10,000 readings a second that
# would be 500 alert changes a second, an alert storm no operator reads).
ANOMALY_RATE = 0.002
READINGS_TOPICS = ("sensors-data", "metrics")  # lag: the readings' path (notify's alerts are counted apart)
ENV = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL")}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Sampler:
    """Lag (how old the oldest reading not yet handled is, over the readings' topics) and RSS, every SAMPLE_S, on a
    thread."""

    def __init__(self, transport: PostgresTransport, process: psutil.Process) -> None:
        self.transport, self.process = transport, process
        self.lags: list[float] = []
        self.rss: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            behind = {key: n for key, n in self.transport.backlog().items() if key[0] in READINGS_TOPICS and n}
            self.lags.append(max((self._age(*key) for key in behind), default=0.0))
            self.rss.append(rss(self.process))
            say(
                f"fleet: {sum(behind.values()):,} events behind ({self.lags[-1]:.1f} s), RSS {self.rss[-1] / 2**20:.0f} MiB"
            )

    def _age(self, topic: str, group: str) -> float:
        """Seconds since the first reading of the group's oldest pending event was measured."""
        _, records = self.transport.pending(topic, group, 1)
        if not records or records[0].value is None:
            return 0.0
        readings = json.loads(records[0].value).get("readings") or [{}]
        measured = readings[0].get("timestamp")
        return time.time() - datetime.fromisoformat(measured).timestamp() if measured else 0.0

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def with_workers(process: psutil.Process) -> list[psutil.Process]:
    """`iotmon up` and its worker processes (one may be starting again)."""
    workers = []
    for child in process.children():
        with contextlib.suppress(psutil.Error):
            if "worker" in child.cmdline():
                workers.append(child)
    return [process, *workers]


def rss(process: psutil.Process) -> int:
    """Resident memory of `iotmon up` with its workers."""
    total = 0
    for member in with_workers(process):
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def cpu_seconds(process: psutil.Process, data_dir: Path) -> tuple[float, float]:
    """CPU seconds (user + system) so far of `iotmon up` with its workers, and of the servers it started on its
    data directory (PostgreSQL with its backends, Redis): the cost of the load whatever else the machine is doing."""
    servers = {p.pid: p for p in server_processes(data_dir) if p.pid != process.pid}
    for server in list(servers.values()):
        with contextlib.suppress(psutil.Error):
            servers.update((child.pid, child) for child in server.children(recursive=True))
    total = 0.0
    for server in servers.values():
        with contextlib.suppress(psutil.Error):
            times = server.cpu_times()
            total += times.user + times.system
    own = 0.0
    for member in with_workers(process):
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            own += times.user + times.system
    return own, total


def load_args(rate: float, url: str) -> list[str]:
    return [
        *("--devices", str(DEVICES), "--rate", str(rate), "--batch-size", str(BATCH), "--duration", str(RUN_S)),
        *("--url", url, "--api-key", GATEWAY_KEY),
    ]


def kept(client: redis.Redis, devices: list[str]) -> dict[str, int]:
    """How many devices have their live value, hour statistics and rule state."""
    pipe = client.pipeline(transaction=False)
    for device in devices:
        pipe.exists(f"device:{device}:current", f"device:{device}:stats:1h", state_key(device))
    found = pipe.execute()
    return {"fleet_devices_kept": sum(1 for n in found if n == 3)}


def pg_bytes_per_reading(database_url: str) -> float:
    with psycopg.connect(database_url, autocommit=True) as conn:
        (size, count) = conn.execute(
            "SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('sensor_readings')),"
            " (SELECT count(*) FROM sensor_readings)"
        ).fetchone() or (0, 0)
    return float(size) / max(int(count), 1)


def sweep_ms(database_url: str, client: redis.Redis, transport: PostgresTransport) -> float:
    """One escalate-cron tick over every device (escalation, offline check, retention), timed."""
    pool = db.pool(database_url)
    try:
        tick = EscalateCron(pool, client, transport)
        started = time.perf_counter()
        tick()
        return (time.perf_counter() - started) * 1000
    finally:
        pool.close()


def measure() -> dict[str, Any]:
    rate = float(DEVICES)  # one reading a second each
    with for_bench("iotmon-bench-fleet-", ["--workers", str(WORKERS)]) as (up, url, data_dir):
        database_url = running_postgres(data_dir / "postgres")
        assert database_url is not None
        client = redis.Redis.from_url(f"unix://{redis_sockets(server_processes(data_dir))[0]}")
        devices = load_devices(DEVICES)
        register_devices(database_url, devices)
        transport = PostgresTransport(database_url, max_connections=1)
        say(f"fleet: {DEVICES:,} devices × 1 reading/s for {RUN_S:.0f} s through `iotmon simulate load`…")
        load = subprocess.Popen(
            [iotmon_command(), "simulate", "load", *load_args(rate, url)],
            env={**ENV, "IOTMON_LOG_LEVEL": "WARNING", "IOTMON_ANOMALY_RATE": str(ANOMALY_RATE)},
            stdout=subprocess.PIPE,
            text=True,
        )
        process = psutil.Process(up.proc.pid)
        cpu_before = cpu_seconds(process, data_dir)
        with Sampler(transport, process) as sampler:
            out, _ = load.communicate(timeout=RUN_S + 300)
            assert load.returncode == 0, out
        sent = json_line(out)
        drained_s = drain(transport)
        own_s, servers_s = (
            after - before for after, before in zip(cpu_seconds(process, data_dir), cpu_before, strict=True)
        )
        result = {
            "fleet_devices": DEVICES,
            "fleet_readings_per_s": round(sent["sent"] / sent["seconds"]),
            "fleet_max_lag_s": round(max(sampler.lags, default=0.0), 1),
            "fleet_lag_end_s": round(sampler.lags[-1] if sampler.lags else 0.0, 1),
            # after the load: how long the backlog took to clear, or what was left after DRAIN_S (not kept up)
            "fleet_drain_s": drained_s,
            "fleet_backlog_left_events": sum(transport.backlog().values()),
            # CPU per reading sent, over the load and the drain (a little low if the backlog did not clear)
            "fleet_cpu_us_per_reading": round(own_s / sent["sent"] * 1e6, 1),
            "fleet_servers_cpu_us_per_reading": round(servers_s / sent["sent"] * 1e6, 1),
            **kept(client, [device.device_id for device in devices]),
            "redis_bytes_per_device": round(int(client.info("memory")["used_memory"]) / DEVICES),
            "pg_bytes_per_reading": round(pg_bytes_per_reading(database_url), 1),
            "rss_mib": round(max(sampler.rss, default=0) / 2**20),
            "fleet_sweep_ms": round(sweep_ms(database_url, client, transport)),
        }
        transport.close()
        # an orderly stop handles what was accepted first (up to iotmon.system.DRAIN_TIMEOUT_S, 30 s)
        assert up.terminate(timeout=90) == 0
        return result


def drain(transport: PostgresTransport) -> float | None:
    """Seconds until every consumer group caught up after the load, or None if it had not within DRAIN_S (a
    chain that did not keep up: the figures after it are taken anyway)."""
    started = time.monotonic()
    while any(transport.backlog().values()):
        if time.monotonic() - started > DRAIN_S:
            say(f"fleet: still {sum(transport.backlog().values()):,} events behind after {DRAIN_S:.0f} s; measuring")
            return None
        time.sleep(1)
    return round(time.monotonic() - started, 1)


def json_line(output: str) -> dict[str, Any]:
    return dict(json.loads(output.strip().splitlines()[-1]))


if __name__ == "__main__":
    print(measure())
