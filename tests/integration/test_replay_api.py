"""Replay without Kafka: `iotmon simulate replay` through the REST API of the embedded system (POST /api/readings
with the gateway key), any CSV, the recorded intervals kept in what is stored."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from iotmon.simulator.api import ApiPublisher
from iotmon.simulator.replay import run_replay
from iotmon.system import System
from tests.support.auth import GATEWAY_KEY
from tests.support.database import sql
from tests.support.waiting import wait_for


def test_a_comma_separated_recording_replays_through_the_api_with_its_intervals(
    service: System, clean_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "line.csv"
    offsets = [0, 1, 3, 4, 10, 11, 12, 20]  # irregular, as recordings are
    path.write_text("epoch,flow\n" + "".join(f"{1_700_000_000 + s},{30 + s / 10}\n" for s in offsets))
    publisher = ApiPublisher(service.url, GATEWAY_KEY)
    try:
        summary = run_replay(
            publisher, path, {"flow": "replay-flow-1"}, speed=10, time_column="epoch", min_interval_s=0.3
        )
    finally:
        publisher.close()
    assert (summary.sent, summary.errors) == (8, 0)
    query = "SELECT timestamp, value::float8 FROM sensor_readings WHERE device_id = 'replay-flow-1' ORDER BY 1"
    stored = wait_for(lambda: (rows := sql(clean_db, query)) and len(rows) == 8 and rows, timeout=20)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(stored)]
    assert gaps == [timedelta(seconds=(b - a) / 10) for a, b in itertools.pairwise(offsets)]
    assert [value for _, value in stored] == [30 + s / 10 for s in offsets]
    # Registered by the gateway key from its first reading.
    assert sql(clean_db, "SELECT device_type FROM devices WHERE device_id = 'replay-flow-1'") == [("flow",)]
