"""A contract without its value checks (iotmon.core.contracts.unchecked): same shape, same JSON, types checked."""

import msgspec
import pytest

from iotmon.core.contracts.readings import Reading, ReadingBatch
from iotmon.core.contracts.unchecked import unchecked

READING = {
    "deviceId": "device-001",
    "timestamp": "2026-12-03T17:00:00.123Z",
    "sensorType": "temperature",
    "value": 21.5,
    "unit": "celsius",
}


def test_what_it_decodes_is_the_contract_with_the_same_fields_and_json():
    body = msgspec.json.encode({"readings": [READING]})
    batch = msgspec.json.decode(body, type=unchecked(ReadingBatch))
    checked = msgspec.json.decode(body, type=ReadingBatch)
    assert isinstance(batch, ReadingBatch) and isinstance(batch.readings[0], Reading)
    assert msgspec.to_builtins(batch) == msgspec.to_builtins(checked)
    assert batch.readings[0].status == "active" and batch.readings[0].location is None  # defaults kept


def test_values_are_not_checked_again_but_types_and_fields_are():
    odd = {**READING, "deviceId": "not an id!", "timestamp": "yesterday", "value": 1e300}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(odd, Reading)
    assert msgspec.convert(odd, unchecked(Reading)).device_id == "not an id!"
    for bad in ({**READING, "value": "hot"}, {**READING, "extra": 1}, {**READING, "status": "asleep"}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, unchecked(Reading))
    assert unchecked(Reading) is unchecked(Reading)  # derived once
