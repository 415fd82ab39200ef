"""The invariants checked after a chaos run has drained: nothing accepted is lost or stored twice, every alert
change reached the dashboard and the `alerts` topic, one open alert per (device, type), no good reading left
dead-lettered. Each check reads PostgreSQL (and the topics) and returns plain figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from cloudevents.http import CloudEvent

from eventing.binding import json_data
from tests.chaos.load import Key

SAMPLE = 10  # examples kept of each kind of failure, for the report

READING_TYPES = ("io.iotmon.reading.v1", "io.iotmon.reading.batch.v1")
REJECTED_TYPE = "io.iotmon.reading.rejected.v1"


@dataclass(frozen=True)
class Readings:
    accepted: int
    stored: int
    lost: int
    duplicated: int
    lost_sample: list[str]


@dataclass(frozen=True)
class AlertChanges:
    changes: int
    delivered: int
    missed: int
    not_on_topic: int
    missed_sample: list[int]
    not_on_topic_sample: list[int]


@dataclass(frozen=True)
class DeadLetters:
    letters: int
    good_readings: int  # readings the run sent that sit in a dead letter
    good_unstored: int  # of those, not in sensor_readings: lost unless replayed
    types: dict[str, int]


def readings(conn: psycopg.Connection[Any], accepted: Iterable[Key]) -> Readings:
    wanted = set(accepted)
    devices = sorted({device for device, _ in wanted})
    rows = conn.execute(
        "SELECT device_id, timestamp, count(*) FROM sensor_readings WHERE device_id = ANY(%s) GROUP BY 1, 2",
        (devices,),
    ).fetchall()
    found = {(device, at): count for device, at, count in rows}
    lost = sorted(wanted - set(found))
    return Readings(
        accepted=len(wanted),
        stored=len(wanted) - len(lost),
        lost=len(lost),
        duplicated=sum(count - 1 for count in found.values()),
        lost_sample=[f"{device}@{at.isoformat()}" for device, at in lost[:SAMPLE]],
    )


def latest_change(conn: psycopg.Connection[Any]) -> int:
    (latest,) = conn.execute("SELECT coalesce(max(id), 0) FROM alert_history").fetchone() or (0,)
    return int(latest)


def unpublished(conn: psycopg.Connection[Any], upto: int) -> int:
    """Alert changes up to `upto` still in the outbox (not yet on `alerts`)."""
    (count,) = conn.execute("SELECT count(*) FROM alert_outbox WHERE seq <= %s", (upto,)).fetchone() or (0,)
    return int(count)


def history(conn: psycopg.Connection[Any], upto: int) -> set[int]:
    return {seq for (seq,) in conn.execute("SELECT id FROM alert_history WHERE id <= %s", (upto,))}


def alert_changes(made: set[int], received: set[int], on_topic: set[int]) -> AlertChanges:
    missed, absent = sorted(made - received), sorted(made - on_topic)
    return AlertChanges(
        changes=len(made),
        delivered=len(made & received),
        missed=len(missed),
        not_on_topic=len(absent),
        missed_sample=missed[:SAMPLE],
        not_on_topic_sample=absent[:SAMPLE],
    )


def sequences(events: Iterable[CloudEvent]) -> set[int]:
    """The alert changes' sequences on `alerts`."""
    found = set()
    for event in events:
        sequence = json_data(event).get("sequence")
        if isinstance(sequence, int):
            found.add(sequence)
    return found


def open_alert_conflicts(conn: psycopg.Connection[Any]) -> int:
    """(device, type) pairs with more than one open alert."""
    rows = conn.execute(
        "SELECT device_id, alert_type FROM alerts WHERE status <> 'resolved' GROUP BY 1, 2 HAVING count(*) > 1"
    ).fetchall()
    return len(rows)


def dead_letters(conn: psycopg.Connection[Any], letters: list[CloudEvent], sent: set[Key]) -> DeadLetters:
    types: dict[str, int] = {}
    good: set[Key] = set()
    for letter in letters:
        types[letter["type"]] = types.get(letter["type"], 0) + 1
        data = json_data(letter)
        if letter["type"] == REJECTED_TYPE:  # a reading ingest refused: good if the run sent it (all it sends are)
            data = data.get("original") if isinstance(data, dict) else None
        if letter["type"] in (*READING_TYPES, REJECTED_TYPE):
            good |= {key for key in _keys(data) if key in sent}
    unstored = 0
    if good:
        devices = sorted({device for device, _ in good})
        rows = conn.execute(
            "SELECT device_id, timestamp FROM sensor_readings WHERE device_id = ANY(%s)", (devices,)
        ).fetchall()
        unstored = len(good - {(device, at) for device, at in rows})
    return DeadLetters(letters=len(letters), good_readings=len(good), good_unstored=unstored, types=types)


def describe(letter: CloudEvent, limit: int = 4000) -> dict[str, Any]:
    """A dead letter as the report shows it: its attributes (type, why it failed) and what it carried."""
    return {**letter.get_attributes(), "data": json.dumps(json_data(letter))[:limit]}


def _keys(data: Any) -> list[Key]:
    items = data.get("readings", []) if isinstance(data, dict) and "readings" in data else [data]
    keys = []
    for item in items:
        if isinstance(item, dict) and "deviceId" in item and "timestamp" in item:
            keys.append((item["deviceId"], datetime.fromisoformat(item["timestamp"])))
    return keys
