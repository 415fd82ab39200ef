"""iotmon.core.opcua: the OPC UA bridge's configuration and what a value change becomes (pure, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from iotmon.core.bridging import Rejected
from iotmon.core.contracts.readings import Reading
from iotmon.core.opcua import ConfigError, OpcUaConfig, ValueChange, parse_config, to_reading, translate

EXAMPLE = b"""
server:
  url: opc.tcp://plc-1.plant:4840/line1
  username: iotmon
  passwordFile: /etc/iotmon/opcua/password
  security: {policy: Basic256Sha256, mode: SignAndEncrypt, certificate: c.der, privateKey: k.pem}
location: assembly-line-1
deadband: {type: absolute, value: 0.5}
nodes:
  - nodeId: ns=2;s=Line1.Oven.Temperature
    deviceId: device-001
    sensorType: temperature
    unit: celsius
  - nodeId: nsu=urn:plant:line1;i=1042
    deviceId: device-002
    sensorType: pressure
    unit: psi
    location: press-hall
    samplingIntervalMs: 500
    deadband: {type: percent, value: 2}
"""

AT = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)


def change(value: object = 72.5, *, status: int = 0, name: str = "Good", **times: datetime | None) -> ValueChange:
    return ValueChange(
        node_id="ns=2;s=Line1.Oven.Temperature",
        value=value,
        status_code=status,
        status_name=name,
        source_time=times.get("source", AT),
        server_time=times.get("server", AT + timedelta(seconds=1)),
        received_at=times.get("received", AT + timedelta(seconds=2)),
    )


@pytest.fixture
def config() -> OpcUaConfig:
    return parse_config(EXAMPLE, "opcua.yaml")


def test_the_example_configuration_reads_with_its_defaults(config: OpcUaConfig) -> None:
    oven, press = config.nodes
    assert config.server.security.mode == "SignAndEncrypt"
    assert config.sampling_interval(oven) == 100.0 and config.sampling_interval(press) == 500
    assert config.deadband_of(oven) == config.deadband and config.deadband_of(press).type == "percent"  # type: ignore[union-attr]
    assert config.batch_ms == 20 and config.max_batch == 5000


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"server: {url: http://plc}\nnodes: []", "$.server.url"),
        (b"server: {url: opc.tcp://plc}\nnodes: []", "length >= 1 - at `$.nodes`"),
        (b"server: {url: opc.tcp://plc, password: x}\nnodes: [{}]", "unknown field `password`"),
        (b"server: {url: opc.tcp://plc}\nnodes: [{nodeId: Temperature}]", "$.nodes[0].nodeId"),
        (b"server: {url: opc.tcp://plc, security: {policy: Basic256Sha256, mode: Sign}}\nnodes: [{}]", "privateKey"),
        (b"server: {url: opc.tcp://plc, security: {mode: Sign}}\nnodes: [{}]", "policy None goes with mode None"),
        (b"server: {url: opc.tcp://plc}\ndeadband: {type: percent, value: 150}\nnodes: [{}]", "at most 100"),
        (b"server: {url: opc.tcp://plc}\nnodes: [{nodeId: i=1, deviceId: d, sensorType: Temp, unit: u}]", "sensorType"),
        (b"server: [", "opcua.yaml"),
    ],
)
def test_a_bad_configuration_says_where_and_why(text: bytes, says: str) -> None:
    with pytest.raises(ConfigError, match=r"^opcua\.yaml: ") as raised:
        parse_config(text, "opcua.yaml")
    assert says in str(raised.value)


def test_the_server_url_can_be_given_in_place_of_the_files() -> None:
    config = parse_config(EXAMPLE, "opcua.yaml", url="opc.tcp://127.0.0.1:4841")
    assert config.server.url == "opc.tcp://127.0.0.1:4841" and config.server.username == "iotmon"
    with pytest.raises(ConfigError, match=r"\$\.server\.url"):
        parse_config(EXAMPLE, "opcua.yaml", url="127.0.0.1:4841")


def test_a_node_mapped_twice_is_refused() -> None:
    node = b"{nodeId: i=1, deviceId: d, sensorType: t, unit: u}"
    with pytest.raises(ConfigError, match="node i=1 is mapped twice"):
        parse_config(b"server: {url: opc.tcp://plc}\nnodes: [" + node + b", " + node + b"]", "opcua.yaml")


def test_a_value_change_is_a_reading_of_the_contract_timed_by_its_source(config: OpcUaConfig) -> None:
    reading = to_reading(config.nodes[0], change(), config.location)
    assert reading == {
        "deviceId": "device-001",
        "timestamp": "2026-03-01T10:00:00.123456Z",
        "sensorType": "temperature",
        "value": 72.5,
        "unit": "celsius",
        "location": "assembly-line-1",
    }
    msgspec.convert(reading, Reading)  # what ingest will accept
    assert to_reading(config.nodes[1], change(), config.location)["location"] == "press-hall"  # type: ignore[index]


def test_the_server_timestamp_then_the_arrival_stand_in_for_a_missing_source_timestamp(config: OpcUaConfig) -> None:
    node = config.nodes[0]
    assert to_reading(node, change(source=None))["timestamp"] == "2026-03-01T10:00:01.123456Z"  # type: ignore[index]
    naive = change(source=None, server=None, received=datetime(2026, 3, 1, 12, 0))  # OPC UA times are UTC
    assert to_reading(node, naive)["timestamp"] == "2026-03-01T12:00:00.000000Z"  # type: ignore[index]
    offset = change(source=datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert to_reading(node, offset)["timestamp"] == "2026-03-01T10:00:00.000000Z"  # type: ignore[index]


@pytest.mark.parametrize(("value", "number"), [(True, 1.0), (False, 0.0), (42, 42.0), (-3.25, -3.25)])
def test_numbers_and_booleans_are_values(config: OpcUaConfig, value: object, number: float) -> None:
    assert to_reading(config.nodes[0], change(value))["value"] == number  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("72.5", "value of type str is not a number"),
        (None, "value of type NoneType is not a number"),
        ([1.0, 2.0], "value of type list is not a number"),
        (float("nan"), "value nan is not a finite number"),
        (1e12, "out of the stored range"),
    ],
)
def test_a_value_that_is_no_number_is_rejected_with_its_node(config: OpcUaConfig, value: object, reason: str) -> None:
    rejected = to_reading(config.nodes[0], change(value))
    assert isinstance(rejected, Rejected)
    assert reason in rejected.reason and rejected.origin == "ns=2;s=Line1.Oven.Temperature"
    msgspec.json.encode(rejected.original)  # JSON-able, for the dead letter


def test_a_bad_status_is_rejected_and_an_uncertain_one_is_a_reading(config: OpcUaConfig) -> None:
    bad = to_reading(config.nodes[0], change(status=0x808C0000, name="BadSensorFailure"))
    assert isinstance(bad, Rejected) and bad.reason == "bad status BadSensorFailure (0x808C0000)"
    assert bad.original["status"] == "BadSensorFailure" and bad.original["value"] == 72.5
    uncertain = to_reading(config.nodes[0], change(status=0x40000000, name="Uncertain"))
    assert isinstance(uncertain, dict) and uncertain["value"] == 72.5


def test_a_batch_keeps_arrival_order_and_groups_by_device(config: OpcUaConfig) -> None:
    changes = [change(float(i), source=AT + timedelta(milliseconds=i)) for i in range(5)]
    unknown = ValueChange("ns=9;s=Nope", 1.0, 0, "Good", AT, None, AT)
    bad = change(status=0x80000000, name="Bad")
    translation = translate(config, config.by_node_id(), [*changes, unknown, bad])
    assert [r["value"] for r in translation.readings] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [(r.origin, r.reason) for r in translation.rejected] == [
        ("ns=9;s=Nope", "node is not mapped"),
        ("ns=2;s=Line1.Oven.Temperature", "bad status Bad (0x80000000)"),
    ]
