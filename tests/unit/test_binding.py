"""CloudEvents in Kafka binary mode, as Knative's KafkaSource expects them."""

import msgspec
import pytest

from eventing.binding import decode, encode, json_data
from eventing.events import READING, reading_event

READING_DATA = {
    "deviceId": "device-001",
    "timestamp": "2025-01-11T10:00:00Z",
    "sensorType": "temperature",
    "value": 1.5,
    "unit": "celsius",
}


def test_attributes_travel_as_ce_headers_and_the_device_is_the_key():
    message = encode(reading_event(READING_DATA, "/test"))
    assert message.key == b"device-001"
    assert message.headers["ce_specversion"] == b"1.0"
    assert message.headers["ce_type"] == READING.encode()
    assert message.headers["ce_source"] == b"/test"
    assert message.headers["content-type"] == b"application/json"
    assert "ce_partitionkey" not in message.headers
    assert msgspec.json.decode(message.value) == READING_DATA


def test_round_trip_keeps_data_as_bytes():
    event = reading_event(READING_DATA, "/test")
    message = encode(event)
    back = decode(list(message.headers.items()), message.key, message.value)
    assert back["id"] == event["id"] and back["type"] == READING
    assert back["partitionkey"] == "device-001"
    assert isinstance(back.get_data(), bytes)
    assert json_data(back) == READING_DATA


def test_a_record_without_cloudevent_headers_is_refused():
    with pytest.raises(ValueError, match="not a binary-mode CloudEvent"):
        decode([("content-type", b"application/json")], b"k", b"{}")


def test_a_record_missing_required_attributes_is_refused():
    with pytest.raises(ValueError, match="invalid CloudEvent"):
        decode([("ce_specversion", b"1.0")], None, b"{}")


def test_a_huge_rejected_payload_is_cut_to_fit_a_kafka_record():
    from eventing.events import MAX_ORIGINAL, rejected_event

    letter = rejected_event("not a reading batch", "x" * (2 * MAX_ORIGINAL), None)
    original = letter.get_data()["original"]
    assert original["truncated"] is True and len(original["head"]) == MAX_ORIGINAL
    assert len(encode(letter).value) < 1_000_000
