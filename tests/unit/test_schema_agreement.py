"""The JSON Schemas in schema/events/ and the code's validation agree.

Every example, hand-picked edge cases and generated ones, gets the same verdict
from `jsonschema` (with format checks) on the schema files and from
`iotmon.core.readings`, which is what the functions actually run.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from iotmon.core.readings import parse_batch, parse_reading, parse_time
from tests.support.paths import SCHEMA_DIR

READING_SCHEMA = json.loads((SCHEMA_DIR / "events" / "reading.schema.json").read_text())
BATCH_SCHEMA = json.loads((SCHEMA_DIR / "events" / "reading-batch.schema.json").read_text())
REGISTRY = Registry().with_resources(
    [(schema["$id"], Resource.from_contents(schema)) for schema in (READING_SCHEMA, BATCH_SCHEMA)]
)
reading_validator = Draft202012Validator(READING_SCHEMA, format_checker=FormatChecker())
batch_validator = Draft202012Validator(BATCH_SCHEMA, registry=REGISTRY, format_checker=FormatChecker())

GOOD = {
    "deviceId": "device-001",
    "timestamp": "2025-01-11T10:00:00.000Z",
    "sensorType": "temperature",
    "value": 75.2,
    "unit": "celsius",
    "location": "assembly-line-1",
    "status": "active",
}


def code_accepts(reading) -> bool:
    """What ingest accepts, leaving out the checks against the clock."""
    try:
        parse_time(parse_reading(reading).timestamp)
        return True
    except ValueError:
        return False


def test_schemas_are_valid_json_schema():
    Draft202012Validator.check_schema(READING_SCHEMA)
    Draft202012Validator.check_schema(BATCH_SCHEMA)


EDGE_CASES = [
    GOOD,
    {k: v for k, v in GOOD.items() if k not in ("location", "status")},
    {**GOOD, "location": None},
    {**GOOD, "value": 0},
    {**GOOD, "value": -99999999.99},
    {**GOOD, "value": 99999999.99},
    {**GOOD, "value": 100000000},
    {**GOOD, "value": "75"},
    {**GOOD, "value": True},
    {**GOOD, "value": None},
    {**GOOD, "deviceId": "d"},
    {**GOOD, "deviceId": "x" * 50},
    {**GOOD, "deviceId": "x" * 51},
    {**GOOD, "deviceId": "-lead"},
    {**GOOD, "deviceId": "a b"},
    {**GOOD, "sensorType": "Temperature"},
    {**GOOD, "sensorType": "flow_rate2"},
    {**GOOD, "unit": ""},
    {**GOOD, "unit": "u" * 21},
    {**GOOD, "location": "l" * 101},
    {**GOOD, "status": "maintenance"},
    {**GOOD, "status": "ACTIVE"},
    {**GOOD, "timestamp": "2025-01-11T10:00:00Z"},
    {**GOOD, "timestamp": "2025-01-11T10:00:00+05:30"},
    {**GOOD, "timestamp": "2025-01-11T10:00:00.123456-08:00"},
    {**GOOD, "timestamp": "2025-01-11T10:00:00.1234567Z"},
    {**GOOD, "timestamp": "2025-01-11 10:00:00Z"},
    {**GOOD, "timestamp": "2025-01-11t10:00:00z"},
    {**GOOD, "timestamp": "2025-01-11T10:00:00"},
    {**GOOD, "timestamp": "2025-01-11T10:00Z"},
    {**GOOD, "timestamp": "2025-02-29T10:00:00Z"},
    {**GOOD, "timestamp": "2024-02-29T10:00:00Z"},
    {**GOOD, "timestamp": "2025-13-01T10:00:00Z"},
    {**GOOD, "timestamp": "2025-01-11T24:00:00Z"},
    {**GOOD, "timestamp": "2025-01-11T23:59:60Z"},
    {**GOOD, "timestamp": 1736589600000},
    {**GOOD, "extra": 1},
    {k: v for k, v in GOOD.items() if k != "unit"},
    [],
    "reading",
]


@pytest.mark.parametrize("reading", EDGE_CASES)
def test_edge_cases_agree(reading):
    assert reading_validator.is_valid(reading) == code_accepts(reading), reading


@pytest.mark.parametrize(
    "batch",
    [
        {"readings": [GOOD]},
        {"readings": []},
        {"readings": [GOOD, {**GOOD, "value": "x"}]},
        {"rows": []},
        {"readings": [GOOD], "x": 1},
    ],
)
def test_batches_agree(batch):
    _good, bad = parse_batch(batch)
    assert batch_validator.is_valid(batch) == (not bad and all(code_accepts(r) for r in batch["readings"])), batch


digits = st.integers(min_value=0, max_value=99)
timestamps = st.one_of(
    st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(lambda d: d.isoformat()),
    st.builds(
        "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
        st.integers(0, 9999),
        digits,
        digits,
        st.sampled_from("T t"),
        digits,
        digits,
        digits,
        st.sampled_from(["", ".5", ".123456", ".1234567"]),
        st.sampled_from(["Z", "z", "+01:00", "-0800", "", "+24:00"]),
    ),
)
readings = st.fixed_dictionaries(
    {
        "deviceId": st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,55}", fullmatch=True), st.text(max_size=5)),
        "timestamp": timestamps,
        "sensorType": st.one_of(st.sampled_from(["temperature", "pressure"]), st.text(max_size=8)),
        "value": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.booleans(), st.none()),
        "unit": st.text(max_size=25),
    },
    optional={
        "location": st.one_of(st.none(), st.text(max_size=110)),
        "status": st.sampled_from(["active", "inactive", "maintenance", "error", "other"]),
    },
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings)
def test_generated_readings_agree(reading):
    assert reading_validator.is_valid(reading) == code_accepts(reading), reading
