"""The Sparkplug B translator, with payloads built and encoded with the Sparkplug B protobuf schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from iotmon.core.contracts.readings import Reading
from iotmon.core.sparkplug import SparkplugSettings, SparkplugTranslator, host_state
from iotmon.core.sparkplug.naming import device_id, sensor_type
from iotmon.core.sparkplug.payloads import decode
from iotmon.core.sparkplug.sparkplug_b_pb2 import Payload

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000)
INT32, INT64, UINT32, FLOAT, DOUBLE, BOOLEAN, STRING, INT8 = 3, 4, 7, 9, 10, 11, 12, 1


def payload(*metrics: dict[str, Any], seq: int | None = None, timestamp: int | None = MS) -> bytes:
    message = Payload()
    if timestamp is not None:
        message.timestamp = timestamp
    if seq is not None:
        message.seq = seq
    for fields in metrics:
        fields = dict(fields)
        properties = fields.pop("properties", {})
        metric = message.metrics.add(**fields)
        for key, value in properties.items():
            metric.properties.keys.append(key)
            metric.properties.values.add(type=STRING, string_value=value)
    return message.SerializeToString()


def nbirth(bd_seq: int = 0, *metrics: dict[str, Any]) -> bytes:
    return payload(
        {"name": "bdSeq", "datatype": INT64, "long_value": bd_seq},
        {"name": "Node Control/Rebirth", "datatype": BOOLEAN, "boolean_value": False},
        *metrics,
        seq=0,
    )


DBIRTH_METRICS = (
    {"name": "Motor/Temperature", "alias": 1, "datatype": DOUBLE, "double_value": 71.5, "properties": {"engUnit": "celsius"}},
    {"name": "Running", "alias": 2, "datatype": BOOLEAN, "boolean_value": True},
    {"name": "Recipe", "alias": 3, "datatype": STRING, "string_value": "A-12"},
    {"name": "Offset", "alias": 4, "datatype": INT32, "int_value": (-5) & 0xFFFFFFFF},
)  # fmt: skip


def born(settings: SparkplugSettings | None = None) -> SparkplugTranslator:
    """A translator that heard edge node plant/edge1 born with device plc1 (seq 0, then 1)."""
    translator = SparkplugTranslator(settings)
    translator.translate("spBv1.0/plant/NBIRTH/edge1", nbirth(7), NOW)
    translator.translate("spBv1.0/plant/DBIRTH/edge1/plc1", payload(*DBIRTH_METRICS, seq=1), NOW)
    return translator


def translate(translator: SparkplugTranslator, topic: str, data: bytes, at: datetime = NOW) -> Any:
    result = translator.translate(topic, data, at)
    assert result is not None
    return result


def test_other_topics_are_not_ours_and_state_and_commands_are_handled_quietly() -> None:
    translator = SparkplugTranslator()
    assert translator.translate("iotmon/line-1/device-001/temperature", b"{}", NOW) is None
    assert translator.translate("spBv1.0/STATE/scada", b'{"online": true}', NOW) == translate(
        translator, "spBv1.0/plant/NCMD/edge1", payload()
    )
    assert translate(translator, "spBv1.0/plant/NCMD/edge1", payload()).replies == ()


def test_dbirth_registers_each_numeric_metric_as_a_device_reads_its_value_and_says_it_is_online() -> None:
    translator = SparkplugTranslator()
    node = translate(translator, "spBv1.0/plant/NBIRTH/edge1", nbirth(7))
    assert node.readings == () and node.births == () and node.rejected == ()  # bdSeq and controls are skipped
    result = translate(translator, "spBv1.0/plant/DBIRTH/edge1/plc1", payload(*DBIRTH_METRICS, seq=1))
    assert [(b.device_id, b.sensor_type, b.unit, b.location) for b in result.births] == [
        ("edge1-plc1-Motor.Temperature", "temperature", "celsius", "plant"),
        ("edge1-plc1-Running", "running", "none", "plant"),
        ("edge1-plc1-Offset", "offset", "none", "plant"),
    ]
    assert [(p.device_id, p.state, p.at) for p in result.presence] == [
        (b.device_id, "online", NOW) for b in result.births
    ]
    assert [(r["deviceId"], r["value"]) for r in result.readings] == [
        ("edge1-plc1-Motor.Temperature", 71.5),
        ("edge1-plc1-Running", 1.0),
        ("edge1-plc1-Offset", -5.0),
    ]
    for reading in result.readings:  # each is a valid reading of the contract
        msgspec.convert(reading, Reading)
    assert result.readings[0]["timestamp"] == "2026-03-01T12:00:00.000Z"
    assert result.rejected == () and result.replies == ()


def test_data_is_resolved_by_alias_with_the_metric_time_else_the_payload_time_else_arrival() -> None:
    translator = born()
    later = MS + 5_000
    data = payload(
        {"alias": 1, "double_value": 72.25, "timestamp": later},
        {"alias": 2, "boolean_value": False},
        {"alias": 3, "string_value": "B-7"},  # a String metric: skipped, not refused
        seq=2,
    )
    result = translate(translator, "spBv1.0/plant/DDATA/edge1/plc1", data)
    assert [(r["deviceId"], r["value"], r["timestamp"], r["unit"]) for r in result.readings] == [
        ("edge1-plc1-Motor.Temperature", 72.25, "2026-03-01T12:00:05.000Z", "celsius"),
        ("edge1-plc1-Running", 0.0, "2026-03-01T12:00:00.000Z", "none"),
    ]
    assert result.rejected == () and result.replies == ()
    arrival = NOW + timedelta(seconds=9)
    result = translate(
        translator,
        "spBv1.0/plant/DDATA/edge1/plc1",
        payload({"alias": 1, "double_value": 1}, seq=3, timestamp=None),
        arrival,
    )
    assert result.readings[0]["timestamp"] == "2026-03-01T12:00:09.000Z"


ALL_TYPES = (
    {"name": "Int8", "datatype": INT8, "int_value": 0xFF},  # -1, two's complement in 8 bits
    {"name": "Int64", "datatype": INT64, "long_value": (-3) & 0xFFFFFFFFFFFFFFFF},
    {"name": "UInt32", "datatype": UINT32, "int_value": 4_000_000},
    {"name": "Float", "datatype": FLOAT, "float_value": 0.5},
    {"name": "Null", "datatype": DOUBLE, "is_null": True},
)


def test_metric_types_signed_unsigned_float_null_and_by_name_without_alias() -> None:
    translator = SparkplugTranslator()
    birth = translate(translator, "spBv1.0/plant/NBIRTH/edge1", nbirth(0, *ALL_TYPES))
    values = {r["deviceId"]: r["value"] for r in birth.readings}
    assert values == {"edge1-Int8": -1.0, "edge1-Int64": -3.0, "edge1-UInt32": 4_000_000.0, "edge1-Float": 0.5}
    assert birth.rejected == ()
    # by name (no aliases); an Int8 sign-extended to 32 bits reads the same
    data = payload({"name": "Int8", "int_value": 0xFFFFFFFE}, seq=1)
    result = translate(translator, "spBv1.0/plant/NDATA/edge1", data)
    assert [(r["deviceId"], r["value"]) for r in result.readings] == [("edge1-Int8", -2.0)]


def test_a_numeric_metric_carrying_no_number_is_refused_with_the_reason() -> None:
    translator = born()
    result = translate(
        translator, "spBv1.0/plant/DDATA/edge1/plc1", payload({"alias": 1, "string_value": "hot"}, seq=2)
    )
    assert result.readings == ()
    (rejected,) = result.rejected
    assert "Motor/Temperature" in rejected.reason and "string_value" in rejected.reason
    assert rejected.origin == "spBv1.0/plant/DDATA/edge1/plc1"


def test_a_sequence_gap_asks_for_a_rebirth_and_refuses_data_until_the_nbirth() -> None:
    translator = born()
    gap = translate(translator, "spBv1.0/plant/DDATA/edge1/plc1", payload({"alias": 1, "double_value": 1}, seq=5))
    assert gap.readings == ()
    assert "seq 5 where 2 was expected" in gap.rejected[0].reason
    ((topic, command),) = gap.replies
    assert topic == "spBv1.0/plant/NCMD/edge1"
    (metric,) = decode(command).metrics
    assert (metric.name, metric.datatype, metric.boolean_value) == ("Node Control/Rebirth", BOOLEAN, True)
    # Until the NBIRTH, data is refused and the rebirth asked again only after rebirth_every_s.
    again = translate(translator, "spBv1.0/plant/DDATA/edge1/plc1", payload({"alias": 1, "double_value": 2}, seq=6))
    assert again.readings == () and again.replies == () and "born again" in again.rejected[0].reason
    late = NOW + timedelta(seconds=11)
    assert len(translate(translator, "spBv1.0/plant/NDATA/edge1", payload(seq=7), late).replies) == 1
    translate(translator, "spBv1.0/plant/NBIRTH/edge1", nbirth(8))
    translate(translator, "spBv1.0/plant/DBIRTH/edge1/plc1", payload(*DBIRTH_METRICS, seq=1))
    ok = translate(translator, "spBv1.0/plant/DDATA/edge1/plc1", payload({"alias": 1, "double_value": 3}, seq=2))
    assert [r["value"] for r in ok.readings] == [3.0] and ok.rejected == ()


def test_seq_wraps_from_255_to_0() -> None:
    translator = SparkplugTranslator()
    translate(
        translator,
        "spBv1.0/plant/NBIRTH/edge1",
        nbirth(0, {"name": "Level", "alias": 9, "datatype": DOUBLE, "double_value": 1}),
    )
    for seq in [*range(1, 256), 0, 1]:
        result = translate(translator, "spBv1.0/plant/NDATA/edge1", payload({"alias": 9, "double_value": seq}, seq=seq))
        assert result.rejected == () and result.replies == (), seq


def test_data_before_a_birth_or_of_an_unknown_alias_is_refused_and_a_rebirth_asked() -> None:
    translator = SparkplugTranslator()
    early = translate(translator, "spBv1.0/plant/DDATA/edge2/plc9", payload({"alias": 1, "double_value": 1}, seq=4))
    assert early.readings == () and "before its NBIRTH" in early.rejected[0].reason
    assert [topic for topic, _ in early.replies] == ["spBv1.0/plant/NCMD/edge2"]

    translator = born()
    unknown = translate(
        translator,
        "spBv1.0/plant/DDATA/edge1/plc1",
        payload({"alias": 1, "double_value": 5}, {"alias": 42, "double_value": 1}, seq=2),
    )
    assert [r["value"] for r in unknown.readings] == [5.0]  # the known metric is still read
    assert ["alias 42 unknown" in r.reason for r in unknown.rejected] == [True]
    assert len(unknown.replies) == 1

    translator = born()
    no_device = translate(translator, "spBv1.0/plant/DDATA/edge1/plc7", payload({"alias": 1, "double_value": 5}, seq=2))
    assert (
        no_device.readings == () and "before a DBIRTH" in no_device.rejected[0].reason and len(no_device.replies) == 1
    )


def test_bad_protobuf_bytes_and_bad_topics_are_refused_with_the_reason() -> None:
    translator = born()
    bad = translate(translator, "spBv1.0/plant/DDATA/edge1/plc1", b"\xff\xff\xff\xff not protobuf")
    (rejected,) = bad.rejected
    assert rejected.reason.startswith("not a Sparkplug B protobuf payload")
    assert rejected.original["bytes"] == 17 and rejected.origin == "spBv1.0/plant/DDATA/edge1/plc1"
    topic = translate(translator, "spBv1.0/plant/DDATA/edge1", payload())
    assert "not a Sparkplug B topic" in topic.rejected[0].reason


def test_ndeath_takes_every_device_of_the_node_offline_at_once_when_its_bdseq_matches() -> None:
    translator = born()
    stale = translate(
        translator, "spBv1.0/plant/NDEATH/edge1", payload({"name": "bdSeq", "datatype": INT64, "long_value": 6})
    )
    assert stale.presence == () and "bdSeq 6" in stale.rejected[0].reason
    arrival = NOW + timedelta(minutes=3)
    death = translate(
        translator,
        "spBv1.0/plant/NDEATH/edge1",
        payload({"name": "bdSeq", "datatype": INT64, "long_value": 7}),
        arrival,
    )
    assert [(p.device_id, p.state, p.at) for p in death.presence] == [
        ("edge1-plc1-Motor.Temperature", "offline", arrival),  # the will's timestamp is its connect time: not used
        ("edge1-plc1-Running", "offline", arrival),
        ("edge1-plc1-Offset", "offline", arrival),
    ]
    assert "NDEATH of plant/edge1" in death.presence[0].reason
    assert translator.nodes == {} and translator.metric_count == 0
    after = translate(translator, "spBv1.0/plant/NDATA/edge1", payload(seq=1))
    assert after.readings == () and len(after.replies) == 1  # dead: data needs a new birth


def test_ddeath_takes_the_device_offline() -> None:
    translator = born()
    death = translate(translator, "spBv1.0/plant/DDEATH/edge1/plc1", payload(seq=2, timestamp=MS + 1_000))
    assert {(p.state, p.at) for p in death.presence} == {("offline", NOW + timedelta(seconds=1))}
    assert len(death.presence) == 3 and death.rejected == ()
    gone = translate(translator, "spBv1.0/plant/DDATA/edge1/plc1", payload({"alias": 1, "double_value": 1}, seq=3))
    assert gone.readings == () and len(gone.replies) == 1


def test_state_is_bounded() -> None:
    translator = SparkplugTranslator(SparkplugSettings(max_nodes=1, max_metrics=5))
    translate(translator, "spBv1.0/plant/NBIRTH/edge1", nbirth(0))
    other = translate(translator, "spBv1.0/plant/NBIRTH/edge2", nbirth(0))
    assert "at most 1" in other.rejected[0].reason and len(translator.nodes) == 1
    big = translate(translator, "spBv1.0/plant/DBIRTH/edge1/plc1", payload(*DBIRTH_METRICS, seq=1))
    assert "at most 5 metrics" in big.rejected[0].reason and big.births == ()
    translate(translator, "spBv1.0/plant/NBIRTH/edge1", nbirth(1))  # a rebirth replaces what was kept
    assert translator.metric_count == 2


def test_names_and_settings() -> None:
    assert (
        device_id("{node}-{device}-{metric}", "g", "Edge 1", "PLC#3", "Line/Motor Speed")
        == "Edge_1-PLC_3-Line.Motor_Speed"
    )
    long = device_id("{node}-{metric}", "g", "n" * 40, None, "m" * 40)
    assert len(long) == 50 and long != device_id("{node}-{metric}", "g", "n" * 40, None, "m" * 39 + "x")
    assert sensor_type("Line/Motor Speed (rpm)", {}) == "motor_speed_rpm"
    assert sensor_type("3rd", {}) == "m_3rd" and sensor_type("Temp", {"Temp": "temperature"}) == "temperature"
    settings = SparkplugSettings(
        device_id="{device}.{metric}", location=None, default_unit="raw", units={"Running": "state"}
    )
    births = {
        b.device_id: b
        for b in born(settings)
        .translate("spBv1.0/plant/DBIRTH/edge1/plc1", payload(*DBIRTH_METRICS, seq=2), NOW)
        .births
    }  # type: ignore[union-attr]
    assert births["plc1.Running"].unit == "state" and births["plc1.Offset"].unit == "raw"
    assert births["plc1.Offset"].location is None


def test_host_state_message() -> None:
    topic, body = host_state("iotmon", True, NOW)
    assert topic == "spBv1.0/STATE/iotmon" and msgspec.json.decode(body) == {"online": True, "timestamp": MS}


@pytest.mark.parametrize("kind", ["NDATA", "DBIRTH", "DDEATH"])
def test_messages_of_a_node_that_never_was_born_ask_for_a_birth(kind: str) -> None:
    topic = f"spBv1.0/plant/{kind}/edge1" + ("/plc1" if kind.startswith("D") else "")
    result = translate(SparkplugTranslator(), topic, payload(seq=3))
    assert result.rejected and len(result.replies) == 1
