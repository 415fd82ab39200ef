"""`iotmon up` as it runs on a laptop: no broker, the event log in its embedded PostgreSQL.

Every 202 waits for the readings' commit in the event log, so this measures
what durability costs:

1. single readings, one per request, one client: requests/s and the 202's
   latency (a commit each);
2. batches of 500 readings from two clients: readings/s accepted, and readings/s
   from the first request until every consumer group has handled them all
   (stored by ingest, aggregated, evaluated).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np

from eventing.postgres import PostgresTransport
from iotmon.adapters.embedded import running_postgres
from tests.support.auth import gateway_headers
from tests.support.load import SEED_DEVICES, ReadingLoad, reading
from tests.support.up import for_bench
from tests.support.waiting import wait_for

SINGLE_S = 10.0
BATCH = 500
BATCH_READINGS = 100_000
CLIENTS = 2


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def single_readings(url: str) -> dict[str, Any]:
    latencies: list[float] = []
    with httpx.Client(timeout=10) as client:
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)  # before the batches' hour
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < SINGLE_S:
            at = base + timedelta(milliseconds=n)
            sent = time.perf_counter()
            answer = client.post(f"{url}/api/readings", json=reading("device-001", at), headers=gateway_headers())
            latencies.append((time.perf_counter() - sent) * 1000)
            assert answer.status_code == 202, answer.text
            n += 1
        elapsed = time.perf_counter() - start
    return {
        "embedded_single_posts_per_s": round(n / elapsed),
        "embedded_202_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "embedded_202_p99_ms": round(float(np.percentile(latencies, 99)), 1),
    }


def batches(url: str, transport: PostgresTransport) -> dict[str, Any]:
    # Each client its own devices, so every (device, timestamp) is unique.
    loads = [ReadingLoad(url, batch=BATCH, devices=SEED_DEVICES[n::CLIENTS]) for n in range(CLIENTS)]
    start = time.perf_counter()
    for load in loads:
        load.start()
    wait_for(lambda: sum(len(load.accepted) for load in loads) >= BATCH_READINGS, 600, "the readings accepted")
    for load in loads:
        load.stop()
    accepted_s = time.perf_counter() - start
    accepted = sum(len(load.accepted) for load in loads)
    wait_for(lambda: not any(transport.backlog().values()), 600, "every consumer group to catch up")
    handled_s = time.perf_counter() - start
    return {
        "embedded_accepted_readings_per_s": round(accepted / accepted_s),
        "embedded_e2e_readings_per_s": round(accepted / handled_s),
    }


def measure() -> dict[str, Any]:
    with for_bench("iotmon-bench-embedded-") as (up, url, data_dir):
        database_url = running_postgres(data_dir / "postgres")
        assert database_url is not None
        transport = PostgresTransport(database_url, max_connections=1)
        say("embedded: single readings…")
        result = single_readings(url)
        say(f"embedded: {BATCH_READINGS:,} readings in batches of {BATCH} from {CLIENTS} clients…")
        result |= batches(url, transport)
        transport.close()
        assert up.terminate() == 0
        return result
