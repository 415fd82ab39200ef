"""Every alert change is published at least once: the outbox, and a crash between the commit and the publish.

A move commits its change with an outbox row; a relay publishes the rows in sequence order and deletes them.
The fault tests kill a real process (IOTMON_FAULT=after-alert-commit: os._exit right after the commit) and
check that the change still reaches `alerts` once the function runs again, as a redelivery makes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from eventing import topics
from eventing.binding import decode, json_data
from eventing.events import alert_sender
from eventing.memory import MemoryTransport
from eventing.postgres import PostgresTransport
from iotmon.adapters.faults import KILLED
from iotmon.adapters.postgres import alerts, outbox
from tests.support.paths import REPO

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SOURCE = "/tests"


def trigger(conn: psycopg.Connection, device: str, at: datetime = BASE) -> alerts.AlertChange | None:
    return alerts.trigger(
        conn,
        device,
        "threshold_exceeded",
        severity="high",
        message="hot",
        value=99.0,
        threshold=85.0,
        details={},
        at=at,
        source=SOURCE,
    )


def published(transport: MemoryTransport | PostgresTransport) -> list[tuple[str, int, str]]:
    """(type, sequence, source) of every event on `alerts`."""
    found = []
    for record in transport.records(topics.ALERTS):
        event = decode(record.headers, record.key, record.value)
        found.append((event["type"], json_data(event)["sequence"], event["source"]))
    return found


def queued(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [seq for (seq,) in conn.execute("SELECT seq FROM alert_outbox ORDER BY seq")]


def test_a_move_commits_its_outbox_row_and_the_relay_publishes_it_once(clean_db: str) -> None:
    transport = MemoryTransport()
    with psycopg.connect(clean_db, autocommit=True) as conn:
        made = trigger(conn, "device-001")
        assert made is not None and queued(clean_db) == [made.sequence]
        assert outbox.relay(conn, alert_sender(transport)) == 1
        assert outbox.relay(conn, alert_sender(transport)) == 0
    assert published(transport) == [("io.iotmon.alert.triggered.v1", made.sequence, SOURCE)]
    assert queued(clean_db) == []


def test_a_move_that_fails_leaves_no_outbox_row(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        made = trigger(conn, "device-001")
        assert made is not None
        assert trigger(conn, "device-001") is None  # already open: nothing happened, nothing to publish
    assert queued(clean_db) == [made.sequence]


def test_a_failed_send_keeps_the_rows_and_the_next_relay_sends_them_in_order(clean_db: str) -> None:
    sent: list[int] = []

    def broken(_pending: object) -> None:
        raise ConnectionError("the broker is away")

    with psycopg.connect(clean_db, autocommit=True) as conn:
        made = [trigger(conn, device) for device in ("device-001", "device-002", "device-003")]
        with pytest.raises(ConnectionError):
            outbox.relay(conn, broken)
        assert len(queued(clean_db)) == 3
        assert outbox.relay(conn, lambda pending: sent.extend(p.change.sequence or 0 for p in pending)) == 3
    assert sent == [m.sequence for m in made if m]


def test_a_crash_after_the_send_sends_again_with_the_same_event_id(clean_db: str) -> None:
    """Sent, then the process died before the delete: the next relay sends the same events (same ids), which
    consumers drop by sequence."""
    transport = MemoryTransport()
    send = alert_sender(transport)

    def send_then_die(pending: object) -> None:
        send(pending)  # type: ignore[arg-type]
        raise SystemExit("killed after the send")

    with psycopg.connect(clean_db, autocommit=True) as conn:
        trigger(conn, "device-001")
        with pytest.raises(SystemExit):
            outbox.relay(conn, send_then_die)
        outbox.relay(conn, send)
    ids = [decode(r.headers, r.key, r.value)["id"] for r in transport.records(topics.ALERTS)]
    assert len(ids) == 2 and len(set(ids)) == 1


# A real process killed between the commit and the publish.


def run_once(*args: str, fault: bool) -> int:
    env = {name: value for name, value in os.environ.items() if name != "IOTMON_FAULT"}
    if fault:
        env["IOTMON_FAULT"] = "after-alert-commit"
    return subprocess.run(
        [sys.executable, "-m", "tests.support.run_once", *args], cwd=REPO, env=env, capture_output=True, timeout=60
    ).returncode


@pytest.fixture
def empty_redis(redis_url: str) -> Iterator[str]:
    redis_lib.Redis.from_url(redis_url).flushall()
    yield redis_url


def breach(path: Path) -> Path:
    """device-001 over its 85 °C limit, long enough to trigger (breach_count 2)."""
    items = [
        {
            "deviceId": "device-001",
            "timestamp": (BASE + timedelta(seconds=2 * i)).isoformat().replace("+00:00", "Z"),
            "sensorType": "temperature",
            "value": value,
            "unit": "celsius",
        }
        for i, value in enumerate([70.0] * 5 + [91.0] * 5)
    ]
    path.write_text(json.dumps(items))
    return path


def test_evaluate_rule_killed_after_the_alert_commit_publishes_the_alert_when_redelivered(
    own_database: str, empty_redis: str, tmp_path: Path
) -> None:
    readings = str(breach(tmp_path / "readings.json"))
    assert run_once("evaluate-rule", own_database, empty_redis, readings, fault=True) == KILLED
    (seq,) = queued(own_database)  # committed, never published
    transport = PostgresTransport(own_database)
    try:
        assert published(transport) == []
        assert run_once("evaluate-rule", own_database, empty_redis, readings, fault=False) == 0  # the redelivery
        assert published(transport) == [("io.iotmon.alert.triggered.v1", seq, "/iotmon/evaluate-rule")]
    finally:
        transport.close()
    assert queued(own_database) == []


def test_escalate_cron_killed_after_the_commit_publishes_the_escalation_on_its_next_tick(
    own_database: str, empty_redis: str
) -> None:
    with psycopg.connect(own_database, autocommit=True) as conn:
        trigger(conn, "device-002")
        conn.execute("DELETE FROM alert_outbox")  # (as if relayed long ago)
    assert run_once("escalate-cron", own_database, empty_redis, fault=True) == KILLED
    (seq,) = queued(own_database)
    assert run_once("escalate-cron", own_database, empty_redis, fault=False) == 0
    transport = PostgresTransport(own_database)
    try:
        assert published(transport) == [("io.iotmon.alert.escalated.v1", seq, "/iotmon/escalate-cron")]
    finally:
        transport.close()
