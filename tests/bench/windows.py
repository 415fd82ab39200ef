"""Redis memory per device of aggregate's live windows, and aggregate's throughput (issue #14).

`python -m tests.bench.windows [--devices N] [--hours H] [--rate R] [--batch-s S]` starts PostgreSQL and
Redis (or uses DATABASE_URL / REDIS_URL), then feeds N devices × R readings a second for H hours of event
time, ending now, through the aggregate function in order: each batch holds every device's readings of
S seconds, stored in PostgreSQL first as ingest does. It prints one JSON object:

- `bytes_per_device`: MEMORY USAGE (SAMPLES 0: every element counted) summed over one device's keys
  (its live windows, statistics and current value; not the shared system:* keys), mean over the devices;
- `used_memory_per_device`: INFO memory's used_memory after the run less before it, over N;
- `aggregate_readings_per_s`: readings through `Aggregate.__call__` per second of its own time
  (the PostgreSQL writes standing in for ingest are not counted);
- `median_1h_ms_per_device`, `median_24h_ms_per_device`: PostgreSQL's time for the exact medians
  aggregate refreshes (every 5 s and 60 s per device), all devices in one query, best of 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import redis as redis_lib
from psycopg_pool import ConnectionPool

from eventing.events import batch_event
from functions.aggregate import Aggregate
from iotmon.adapters.postgres import db, storage, window_history
from iotmon.adapters.redis import keys
from iotmon.adapters.redis.device_state import device_keys
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.adapters.redis.live_windows import day_start_us, hour_start_us
from iotmon.core.contracts.readings import Reading
from iotmon.core.readings import parse_reading, to_json
from tests.support import servers


def device_bytes(client: redis_lib.Redis, device: str) -> int:
    """What one device's keys take in Redis (shared keys excluded)."""
    total = 0
    for key in device_keys(device):
        if key.startswith("system:"):  # before issue #14 the list held the shared keys too
            continue
        used = client.memory_usage(key, samples=0)
        total += int(used or 0)
    return total


def readings_between(devices: Sequence[str], start: datetime, seconds: int, rate: float, seed: int) -> list[Reading]:
    """Every device's readings of [start, start + seconds), `rate` a second, a noisy ramp."""
    rng = np.random.default_rng(seed)
    steps = int(seconds * rate)
    out = []
    for device in devices:
        values = np.round(50 + rng.normal(0, 3, steps), 2)
        for i in range(steps):
            at = start + timedelta(seconds=i / rate)
            out.append(
                parse_reading(
                    {
                        "deviceId": device,
                        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                        "sensorType": "temperature",
                        "value": float(values[i]),
                        "unit": "celsius",
                        "location": "bench",
                    }
                )
            )
    return out


def median_ms(pool: ConnectionPool, devices: Sequence[str], window: str) -> float:
    """Milliseconds per device of PostgreSQL's exact median over each device's window (best of 3)."""
    start = hour_start_us if window == "1h" else day_start_us
    with pool.connection() as conn:
        ends = window_history.newest(conn, devices)
        spans = [(d, start(end), end) for d, end in ends.items() if end is not None]
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            window_history.medians(conn, spans)
            best = min(best, time.perf_counter() - began)
    return round(best * 1000 / len(devices), 3)


def feed(
    aggregate: Aggregate,
    pool: ConnectionPool,
    devices: Sequence[str],
    hours: float,
    rate: float,
    batch_s: int,
) -> tuple[int, float]:
    """Feed the run; returns (readings, seconds spent in aggregate)."""
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(hours=hours)
    total, spent = 0, 0.0
    at, seed = start, 0
    while at < end:
        span = min(batch_s, int((end - at).total_seconds()))
        batch = readings_between(devices, at, span, rate, seed)
        with pool.connection() as conn:
            storage.write_readings(conn, batch)
        events = [batch_event([to_json(r) for r in batch if r.device_id == d], "/bench", d) for d in devices]
        began = time.perf_counter()
        aggregate(events)
        spent += time.perf_counter() - began
        total += len(batch)
        at += timedelta(seconds=span)
        seed += 1
    return total, spent


def measure(devices: int = 10, hours: float = 2.0, rate: float = 1.0, batch_s: int = 60) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as directory,
        servers.postgres(Path(directory) / "pg") as url,
        servers.redis(Path(directory) / "redis") as redis_url,
    ):
        db.migrate(url)
        client = redis_lib.Redis.from_url(redis_url)
        client.flushdb()
        pool = db.pool(url)
        try:
            aggregate = Aggregate(pool, client, LiveEmitter(redis_url))
            names = [f"bench-{i:05d}" for i in range(devices)]
            before = int(client.info("memory")["used_memory"])
            total, spent = feed(aggregate, pool, names, hours, rate, batch_s)
            after = int(client.info("memory")["used_memory"])
            per_device = [device_bytes(client, name) for name in names]
            count = json.loads(client.get(keys.stats(names[0], "1h")) or b"{}").get("count")
            medians = {f"median_{w}_ms_per_device": median_ms(pool, names, w) for w in ("1h", "24h")}
        finally:
            pool.close()
    return {
        "devices": devices,
        "hours": hours,
        "rate_per_s": rate,
        "readings": total,
        "count_1h_of_first_device": count,
        "bytes_per_device": round(sum(per_device) / len(per_device)),
        "max_bytes_per_device": max(per_device),
        "used_memory_per_device": round((after - before) / devices),
        "aggregate_readings_per_s": round(total / spent),
        **medians,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--batch-s", type=int, default=60)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.devices, args.hours, args.rate, args.batch_s)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
