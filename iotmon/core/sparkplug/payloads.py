"""Sparkplug B payloads (pure): decoding, a metric's number, its unit property, times, and the commands we send."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from google.protobuf.message import DecodeError

from iotmon.core.sparkplug.sparkplug_b_pb2 import Payload

Metric = Payload.Metric

# Sparkplug datatype numbers (the specification's table) that are a number on our scale.
SIGNED_BITS = {1: 8, 2: 16, 3: 32, 4: 64}  # Int8, Int16, Int32, Int64: two's complement in an unsigned field
UNSIGNED = {5, 6, 7, 8}  # UInt8, UInt16, UInt32, UInt64
FLOATS = {9, 10}  # Float, Double
BOOLEAN = 11
NUMERIC = set(SIGNED_BITS) | UNSIGNED | FLOATS | {BOOLEAN}
DATATYPE_NAMES = {
    0: "Unknown", 1: "Int8", 2: "Int16", 3: "Int32", 4: "Int64", 5: "UInt8", 6: "UInt16", 7: "UInt32",
    8: "UInt64", 9: "Float", 10: "Double", 11: "Boolean", 12: "String", 13: "DateTime", 14: "Text", 15: "UUID",
    16: "DataSet", 17: "Bytes", 18: "File", 19: "Template", 20: "PropertySet", 21: "PropertySetList",
}  # fmt: skip
UNIT_PROPERTIES = ("engUnit", "engUnits", "unit")  # where edge nodes put a metric's unit (Ignition: engUnit)
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"


class BadPayload(ValueError):
    """The bytes are no Sparkplug B payload; the message says why."""


def decode(data: bytes) -> Payload:
    payload = Payload()
    try:
        payload.ParseFromString(data)
    except DecodeError as error:
        raise BadPayload(f"not a Sparkplug B protobuf payload: {error}") from None
    return payload


def datatype_name(datatype: int) -> str:
    return DATATYPE_NAMES.get(datatype, f"datatype {datatype}")


def number(metric: Metric, datatype: int) -> float | str:
    """The metric's value as a number (a boolean as 0 or 1), or why it has none we can use."""
    if datatype not in NUMERIC:
        return f"{datatype_name(datatype)} is not a number"
    kind = metric.WhichOneof("value")
    if kind is None:
        return "no value"
    raw = getattr(metric, kind)
    if isinstance(raw, (str, bytes)):
        return f"a {datatype_name(datatype)} metric carries {kind}"
    if datatype in SIGNED_BITS and kind in ("int_value", "long_value"):
        raw = _signed(int(raw), SIGNED_BITS[datatype])
    value = float(raw)
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    return value


def _signed(raw: int, bits: int) -> int:
    """Two's complement of the low `bits` bits: Int8 -1 arrives as 0xFF or 0xFFFFFFFF, both read as -1."""
    raw &= (1 << bits) - 1
    return raw - (1 << bits) if raw >> (bits - 1) else raw


def unit_property(metric: Metric) -> str | None:
    """The unit a birth gives the metric in its properties, if any."""
    properties = dict(zip(metric.properties.keys, metric.properties.values, strict=False))
    for key in UNIT_PROPERTIES:
        value = properties.get(key)
        if value is not None and value.WhichOneof("value") == "string_value" and value.string_value.strip():
            return value.string_value.strip()
    return None


def moment(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def measured_at(metric: Metric, payload: Payload, received_at: datetime) -> datetime:
    """The metric's own time, else the payload's, else when the message arrived."""
    if metric.HasField("timestamp"):
        return moment(metric.timestamp)
    if payload.HasField("timestamp"):
        return moment(payload.timestamp)
    return received_at


def long_metric(payload: Payload, name: str) -> int | None:
    """An integer metric by name (bdSeq in NBIRTH and NDEATH)."""
    for metric in payload.metrics:
        if metric.name == name and metric.WhichOneof("value") in ("long_value", "int_value"):
            return int(getattr(metric, metric.WhichOneof("value") or "long_value"))
    return None


def rebirth_request(at: datetime) -> bytes:
    """The NCMD payload asking an edge node to publish its births again."""
    milliseconds = int(at.timestamp() * 1000)
    command = Payload(timestamp=milliseconds)
    command.metrics.add(name=REBIRTH, timestamp=milliseconds, datatype=BOOLEAN, boolean_value=True)
    return command.SerializeToString()
