"""evaluate-rule's pure step: readings grouped per device (the judging itself is tests/unit/test_judge.py)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from eventing.events import batch_event, make_event, presence_event, reading_event
from eventing.sources import presences_of, wrap_record
from eventing.transport import Record
from functions.evaluate_rule import readings_by_device
from iotmon.core.contracts.presence import DevicePresence

T0 = datetime(2026, 1, 11, 10, 0, tzinfo=UTC)
EPOCH0 = T0.timestamp()


def reading(device: str = "device-001", seconds: float = 0.0, value: float = 50.0, **extra: object) -> dict:
    at = T0 + timedelta(seconds=seconds)
    return {
        "deviceId": device,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sensorType": "temperature",
        "value": value,
        "unit": "celsius",
        **extra,
    }


def as_from_kafka(event):
    event.data = json.dumps(event.data).encode()
    return event


# --------------------------------------------------------------------------- readings_by_device


def test_reading_and_batch_events_are_grouped_per_device_as_epoch_seconds_and_values():
    events = [
        reading_event(reading("device-001", 0.5, 70.0), "/sim"),
        batch_event([reading("device-002", 1, 30.0), reading("device-001", 2, 71.0)], "/gw", key="gw-1"),
        as_from_kafka(reading_event(reading("device-002", 3, 31.5), "/sim")),  # bytes, as Kafka delivers it
    ]
    found, refused = readings_by_device(events)
    assert refused == []
    assert found == {
        "device-001": [(EPOCH0 + 0.5, 70.0), (EPOCH0 + 2, 71.0)],
        "device-002": [(EPOCH0 + 1, 30.0), (EPOCH0 + 3, 31.5)],
    }


def test_readings_keep_the_order_they_came_in_and_offsets_are_honoured():
    late = {**reading("device-001", 0, 1.0), "timestamp": "2026-01-11T12:00:05+02:00"}  # 10:00:05 UTC
    found, _ = readings_by_device([batch_event([reading("device-001", 9, 2.0), late], "/gw", key="device-001")])
    assert found == {"device-001": [(EPOCH0 + 9, 2.0), (EPOCH0 + 5, 1.0)]}  # sorting is device_run's job


def test_a_wrapped_plain_kafka_record_is_read_as_the_reading_it_carries():
    record = Record("metrics", 2, 17, b"device-003", (), json.dumps(reading("device-003", 4, 40.0)).encode())
    found, refused = readings_by_device([wrap_record(record, "evaluate-rule-metrics")])
    assert refused == [] and found == {"device-003": [(EPOCH0 + 4, 40.0)]}


def test_events_without_readings_are_refused_by_id_and_the_rest_still_counts():
    other = make_event("com.example.other.v1", "/elsewhere", {"hello": "world"}, event_id="other-1")
    broken = make_event("io.iotmon.reading.v1", "/sim", {"deviceId": "device-001"}, event_id="broken-1")
    empty = make_event("io.iotmon.reading.batch.v1", "/gw", {"readings": []}, event_id="empty-1")
    good = reading_event(reading("device-001", 1, 60.0), "/sim")
    found, refused = readings_by_device([other, broken, good, empty])
    assert found == {"device-001": [(EPOCH0 + 1, 60.0)]}
    assert len(refused) == 3
    assert refused[0].startswith("event other-1: unknown event type 'com.example.other.v1'")
    assert refused[1].startswith("event broken-1: ") and "required field" in refused[1]
    assert refused[2] == "event empty-1: batch has no readings (at least 1 required)"


def test_a_batch_with_some_bad_readings_keeps_the_good_ones_and_warns(caplog: pytest.LogCaptureFixture):
    bad = {**reading("device-002", 2), "value": "hot"}
    event = batch_event([reading("device-002", 1, 30.0), bad, reading("device-002", 3, 32.0)], "/ingest", "device-002")
    with caplog.at_level(logging.WARNING):
        found, refused = readings_by_device([event])
    assert refused == []  # not refused: the event had readings to judge
    assert found == {"device-002": [(EPOCH0 + 1, 30.0), (EPOCH0 + 3, 32.0)]}
    [warning] = [r for r in caplog.records if r.getMessage() == "invalid readings on metrics"]
    assert warning.levelno == logging.WARNING and warning.count == 1 and warning.event == event["id"]


def test_no_events_give_nothing():
    assert readings_by_device([]) == ({}, [])


def test_presence_reports_on_metrics_are_no_readings_and_not_refused():
    report = DevicePresence(device_id="device-003", state="offline", timestamp="2026-06-15T11:59:30.000Z")
    events = [presence_event(report, "/iotmon/ingest")]
    assert readings_by_device(events) == ({}, [])
    assert presences_of(events) == ([report], [])
