"""202 means durable: `iotmon up` killed (-9) or stopped (SIGTERM) under load loses no accepted reading.

A load posts readings with unique (device, timestamp) and remembers which were answered 202. After the
fault, PostgreSQL must hold every one of them (exactly once: the unique index guarantees it, and the
test counts). kill -9 leaves accepted readings in the event log, and the next start handles them;
SIGTERM handles them before the process exits.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from iotmon.adapters.embedded import EmbeddedPostgres
from tests.support.kafka_broker import free_port
from tests.support.load import Key, ReadingLoad
from tests.support.up import Up, kill_leftovers
from tests.support.waiting import wait_for

ENV = {"IOTMON_RATE_LIMIT": "1000000"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    kill_leftovers(tmp_path / "data")


def start(data_dir: Path, log: Path, fresh: bool = False) -> Up:
    up = Up(free_port(), data_dir, log, fresh=fresh, env=ENV)
    up.url = up.wait_for_url()
    return up


def load_until(up: Up, accepted: int) -> ReadingLoad:
    load = ReadingLoad(up.url, batch=200).start()
    wait_for(
        lambda: len(load.accepted) >= accepted, 60, what=lambda: f"{accepted} readings accepted ({len(load.accepted)})"
    )
    return load


@contextlib.contextmanager
def database(data_dir: Path) -> Iterator[psycopg.Connection]:
    """The stopped system's embedded PostgreSQL, to look inside."""
    server = EmbeddedPostgres(data_dir / "postgres")
    url = server.start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    finally:
        server.stop()


def stored(conn: psycopg.Connection, since: datetime) -> list[Key]:
    rows = conn.execute("SELECT device_id, timestamp FROM sensor_readings WHERE timestamp >= %s", (since,))
    return [(device, at) for device, at in rows]


def missing(accepted: list[Key], found: list[Key]) -> list[Key]:
    return sorted(set(accepted) - set(found))


def running_database_url(data_dir: Path) -> str:
    """The running system's embedded PostgreSQL, from its postmaster.pid (pid, dir, start, port, socket dir, …)."""
    lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
    return f"postgresql://postgres:@/postgres?host={lines[4]}&port={lines[3]}"


def test_sigterm_under_load_handles_every_accepted_reading_before_exiting(data_dir: Path, tmp_path: Path) -> None:
    up = start(data_dir, tmp_path / "up.log", fresh=True)
    load = load_until(up, 2_000)
    with psycopg.connect(running_database_url(data_dir)) as slow:
        # Ingest stalls behind a table lock (a long migration, a vacuum): readings are accepted into the
        # event log and wait there. SIGTERM comes while they wait; the lock goes a few seconds later.
        slow.execute("LOCK TABLE sensor_readings IN EXCLUSIVE MODE")
        waiting = len(load.accepted)
        wait_for(lambda: len(load.accepted) >= waiting + 3_000, 30, what="readings accepted while ingest is stalled")
        up.proc.send_signal(signal.SIGTERM)
        time.sleep(3)
    started = time.monotonic()
    assert up.terminate(timeout=60) == 0
    load.stop()
    up.kill()
    assert time.monotonic() - started < 40  # the drain is bounded
    accepted = load.accepted
    with database(data_dir) as conn:
        found = stored(conn, min(at for _, at in accepted))
        (left,) = conn.execute(
            "SELECT count(*) FROM event_offsets o JOIN event_log e"
            " ON e.topic = o.topic AND e.partition = o.partition AND e.id >= o.next_offset"
        ).fetchone() or (0,)
    assert missing(accepted, found) == []
    assert len(found) == len(set(found))
    assert left == 0, "SIGTERM left accepted events unhandled"


def test_kill_9_under_load_loses_no_accepted_reading(data_dir: Path, tmp_path: Path) -> None:
    up = start(data_dir, tmp_path / "first.log", fresh=True)
    load = load_until(up, 5_000)
    up.proc.kill()  # no cleanup of any kind
    up.proc.wait(10)
    load.stop()
    up.kill()  # its watchdogs stop the embedded servers; PostgreSQL recovers from its WAL on the next start
    accepted = load.accepted
    since = min(at for _, at in accepted)

    again = start(data_dir, tmp_path / "second.log")  # the event log still holds what was not handled
    assert again.terminate(timeout=60) == 0  # and a stop handles it before exiting
    again.kill()
    with database(data_dir) as conn:
        found = stored(conn, since)
    assert missing(accepted, found) == []
    assert len(found) == len(set(found))
