"""OPC UA to readings (pure): the bridge's configuration, and what a monitored item's value change becomes.

The configuration (YAML or JSON, camelCase keys) names the server, how to
connect to it, and which node ids to subscribe to, each mapped to a device, a
sensor type, a unit and a location. A value change (the DataValue of a
monitored item's notification, as the bridge hands it over) becomes a reading
in the shape of the Reading contract, timed by the DataValue's source
timestamp (else its server timestamp, else when it arrived) so that a value
the server sends again is stored once; a change with a bad status code or a
value that is no number becomes a `Rejected`, with the node id as its origin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from iotmon.core.bridging import Rejected, Translation
from iotmon.core.contracts.common import DECIMAL_LIMIT, DeviceId, Line

PASSWORD_ENV = "IOTMON_OPCUA_PASSWORD"  # the password, when the configuration names no passwordFile

SensorType = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,49}(?!\n)$")]
Unit = Annotated[Line, msgspec.Meta(min_length=1, max_length=20)]
Location = Annotated[Line, msgspec.Meta(max_length=100)]
Milliseconds = Annotated[float, msgspec.Meta(ge=0)]
# ns=<index>; or nsu=<uri>; then i= (numeric), s= (string), g= (GUID) or b= (opaque), as OPC UA writes node ids.
NodeId = Annotated[str, msgspec.Meta(pattern=r"^((ns=[0-9]+|nsu=[^;]+);)?[isgb]=.+$")]


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why."""


class _Config(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    pass


class Deadband(_Config):
    """Report a change only when the value moved more than this since the last one (DataChangeFilter)."""

    type: Literal["absolute", "percent"]  # percent: of the node's EURange, which the server must know
    value: Annotated[float, msgspec.Meta(ge=0)]

    def __post_init__(self) -> None:
        if self.type == "percent" and self.value > 100:
            raise ValueError("a percent deadband is at most 100")


class Security(_Config):
    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: str | None = None  # the client's certificate file (PEM or DER)
    private_key: str | None = None  # its private key file
    server_certificate: str | None = None  # pin the server's; by default the one its endpoint offers
    application_uri: str = "urn:iotmon:opcua-bridge"  # must be the certificate's subjectAltName URI

    def __post_init__(self) -> None:
        if (self.policy == "None") != (self.mode == "None"):
            raise ValueError("policy None goes with mode None, Basic256Sha256 with Sign or SignAndEncrypt")
        if self.policy != "None" and not (self.certificate and self.private_key):
            raise ValueError(f"policy {self.policy} needs a certificate and a privateKey file")


class Server(_Config):
    url: Annotated[str, msgspec.Meta(pattern=r"^opc\.tcp://[^/\s]+")]
    username: str | None = None
    password_file: str | None = None  # else the password comes from IOTMON_OPCUA_PASSWORD; never in this file
    security: Security = msgspec.field(default_factory=Security)
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 4.0  # for each request to the server


class Node(_Config):
    node_id: NodeId
    device_id: DeviceId
    sensor_type: SensorType
    unit: Unit
    location: Location | None = None  # default: the configuration's location
    sampling_interval_ms: Milliseconds | None = None  # default: the configuration's
    deadband: Deadband | None = None  # default: the configuration's


class OpcUaConfig(_Config):
    server: Server
    nodes: Annotated[list[Node], msgspec.Meta(min_length=1)]
    location: Location | None = None
    publishing_interval_ms: Annotated[float, msgspec.Meta(gt=0)] = 100.0
    sampling_interval_ms: Milliseconds = 100.0
    deadband: Deadband | None = None
    queue_size: Annotated[int, msgspec.Meta(ge=1)] = 10  # changes the server keeps per item between publishes
    batch_ms: Milliseconds = 20.0  # how long value changes are collected before one publish
    max_batch: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 5000

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for node in self.nodes:
            if node.node_id in seen:
                raise ValueError(f"node {node.node_id} is mapped twice")
            seen.add(node.node_id)

    def sampling_interval(self, node: Node) -> float:
        return self.sampling_interval_ms if node.sampling_interval_ms is None else node.sampling_interval_ms

    def deadband_of(self, node: Node) -> Deadband | None:
        return node.deadband or self.deadband

    def by_node_id(self) -> dict[str, Node]:
        return {node.node_id: node for node in self.nodes}


def parse_config(text: str | bytes, origin: str = "configuration", url: str | None = None) -> OpcUaConfig:
    """The configuration in `text` (YAML, or JSON, which is YAML), with the server's `url` in place of the file's
    when given; ConfigError naming `origin` and the field."""
    try:
        document = msgspec.yaml.decode(text)
        if url is not None and isinstance(document, dict) and isinstance(document.get("server"), dict):
            document["server"]["url"] = url
        return msgspec.convert(document, OpcUaConfig)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise ConfigError(f"{origin}: {error}") from None


@dataclass(frozen=True, slots=True)
class ValueChange:
    """A monitored item's notification, as the bridge hands it over (no OPC UA library types)."""

    node_id: str
    value: Any
    status_code: int  # the StatusCode's 32 bits
    status_name: str  # its symbolic name, e.g. BadSensorFailure
    source_time: datetime | None
    server_time: datetime | None
    received_at: datetime


def is_bad(status_code: int) -> bool:
    """OPC UA's severity is the top two bits: 00 good, 01 uncertain, 1x bad."""
    return status_code >> 31 == 1


def reading_time(change: ValueChange) -> datetime:
    return change.source_time or change.server_time or change.received_at


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds: two changes a millisecond apart are two readings."""
    if moment.tzinfo is None:  # OPC UA times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def number(value: Any) -> float | str:
    """The value as a reading's number, or why it cannot be one."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float):
        return f"value of type {type(value).__name__} is not a number"
    result = float(value)
    if not math.isfinite(result):
        return f"value {value} is not a finite number"
    if abs(result) > DECIMAL_LIMIT:
        return f"value {value} is out of the stored range (±{DECIMAL_LIMIT:,})"
    return result


def _original(change: ValueChange) -> dict[str, Any]:
    """What was received, as JSON-able data, for the dead letter."""
    value = change.value
    if not (value is None or isinstance(value, str | int | float | bool)) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        value = repr(value)[:1000]
    return {
        "nodeId": change.node_id,
        "value": value,
        "status": change.status_name,
        "statusCode": change.status_code,
        "sourceTimestamp": None if change.source_time is None else timestamp(change.source_time),
        "serverTimestamp": None if change.server_time is None else timestamp(change.server_time),
    }


def to_reading(node: Node, change: ValueChange, location: str | None = None) -> dict[str, Any] | Rejected:
    """A value change of a mapped node as a reading (camelCase, the Reading contract's shape), or its rejection."""
    if is_bad(change.status_code):
        reason = f"bad status {change.status_name} (0x{change.status_code:08X})"
        return Rejected(reason, _original(change), change.node_id)
    value = number(change.value)
    if isinstance(value, str):
        return Rejected(value, _original(change), change.node_id)
    reading: dict[str, Any] = {
        "deviceId": node.device_id,
        "timestamp": timestamp(reading_time(change)),
        "sensorType": node.sensor_type,
        "value": value,
        "unit": node.unit,
    }
    if node.location or location:
        reading["location"] = node.location or location
    return reading


def translate(config: OpcUaConfig, nodes: Mapping[str, Node], changes: Iterable[ValueChange]) -> Translation:
    """A batch of value changes: readings in arrival order, and rejections (a node not mapped is one too)."""
    readings: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for change in changes:
        node = nodes.get(change.node_id)
        if node is None:
            rejected.append(Rejected("node is not mapped", _original(change), change.node_id))
            continue
        result = to_reading(node, change, config.location)
        if isinstance(result, Rejected):
            rejected.append(result)
        else:
            readings.append(result)
    return Translation(readings=tuple(readings), rejected=tuple(rejected))
