"""The reading contract in code: parsing, batch splitting and time checks (no servers)."""

from datetime import UTC, datetime, timedelta

import pytest

from eventing.events import BATCH_READINGS, reading_batches
from iotmon.core.readings import ORDERING_KEYS, RETENTION, check_time, ordering_key, parse_batch, parse_reading

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
GOOD = {
    "deviceId": "device-001",
    "timestamp": "2026-06-15T11:59:58.000Z",
    "sensorType": "temperature",
    "value": 75.2,
    "unit": "celsius",
    "location": "assembly-line-1",
    "status": "active",
}


def test_a_full_reading_parses_from_an_object_and_from_json_bytes():
    reading = parse_reading(GOOD)
    assert reading.device_id == "device-001"
    assert reading.timestamp == "2026-06-15T11:59:58.000Z"
    assert parse_reading(__import__("json").dumps(GOOD).encode()) == reading


def test_location_and_status_are_optional():
    reading = parse_reading({k: v for k, v in GOOD.items() if k not in ("location", "status")})
    assert reading.location is None and reading.status == "active"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"value": "hot"}, "Expected `float`, got `str` - at `$.value`"),
        ({"value": True}, "at `$.value`"),
        ({"deviceId": ""}, "at `$.deviceId`"),
        ({"timestamp": "2026-06-15T11:59:58"}, "at `$.timestamp`"),  # no UTC offset
        ({"status": "broken"}, "at `$.status`"),
        ({"extra": 1}, "unknown field `extra`"),
        ({"value": 1e12}, "at `$.value`"),
    ],
)
def test_bad_readings_say_why(change, expected):
    with pytest.raises(ValueError, match=None) as error:
        parse_reading({**GOOD, **change})
    assert expected in str(error.value)


def test_missing_field_is_named():
    with pytest.raises(ValueError, match="sensorType"):
        parse_reading({k: v for k, v in GOOD.items() if k != "sensorType"})


def test_malformed_json_is_refused():
    with pytest.raises(ValueError, match="malformed JSON"):
        parse_reading(b'{"deviceId": ')


def test_batch_keeps_good_readings_and_names_bad_ones_by_index():
    good, bad = parse_batch({"readings": [GOOD, {**GOOD, "value": None}, GOOD]})
    assert len(good) == 2
    assert [(r.index, r.payload["value"]) for r in bad] == [(1, None)]


def test_batch_from_bytes_takes_the_fast_path():
    good, bad = parse_batch(b'{"readings": [' + __import__("json").dumps(GOOD).encode() + b"]}")
    assert len(good) == 1 and bad == []


@pytest.mark.parametrize("payload", [{"readings": []}, {"readings": "x"}, {"rows": [GOOD]}, b"not json"])
def test_not_a_batch_is_one_rejection(payload):
    good, bad = parse_batch(payload)
    assert good == [] and len(bad) == 1 and bad[0].index is None


def test_an_impossible_date_is_refused_when_checked():
    reading = parse_reading({**GOOD, "timestamp": "2026-02-30T10:00:00Z"})  # the right shape
    assert "not a real date-time" in check_time(reading, NOW)


def test_time_checks():
    assert check_time(parse_reading(GOOD), NOW) is None
    future = parse_reading({**GOOD, "timestamp": "2026-06-15T12:10:00Z"})
    assert "in the future" in check_time(future, NOW)
    old = (NOW - RETENTION - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert "older than the raw-data retention" in check_time(parse_reading({**GOOD, "timestamp": old}), NOW)


def test_readings_are_queued_in_few_events_each_devices_in_order_under_its_ordering_key() -> None:
    readings = [
        {"deviceId": f"dev-{n % 500}", "timestamp": f"2026-01-01T00:00:{n // 500:02d}Z", "value": n}
        for n in range(1000)
    ] + [{"deviceId": "busy", "timestamp": f"2026-01-01T01:00:00.{n:06d}Z", "value": n} for n in range(1500)]
    queued = reading_batches(readings, "/tests")
    assert len(queued) <= ORDERING_KEYS + 2 and all(len(e.data["readings"]) <= BATCH_READINGS for e in queued)
    assert sum(len(event.data["readings"]) for event in queued) == 2500
    by_device: dict[str, list[int]] = {}
    for event in queued:
        for reading in event.data["readings"]:
            assert ordering_key(reading["deviceId"]) == event["partitionkey"]
            by_device.setdefault(reading["deviceId"], []).append(reading["value"])
    assert by_device["busy"] == list(range(1500))  # over two events, in order
    assert all(
        values == sorted(values) and len(values) == 2 for device, values in by_device.items() if device != "busy"
    )
