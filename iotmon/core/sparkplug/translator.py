"""The Sparkplug B translator (pure: no I/O; its only state is what the edge nodes' births said).

Topics `spBv1.0/<group>/<kind>/<edge node>[/<device>]`:

- NBIRTH, DBIRTH: the metrics' names, aliases, datatypes and units are kept (per edge node and device);
  each numeric metric is registered (a `Birth`), said to be online (`Presence`) and its value read.
- NDATA, DDATA: each metric is resolved by its alias (or name) and becomes a reading. A metric that is
  not a number (String, DataSet, …) or is a control metric (`Node Control/…`, `Properties/…`) is skipped.
- NDEATH: every device of the edge node is offline at once, unless its bdSeq is not the one of the
  node's current NBIRTH (the broker delivering an old session's will late): then nothing happens.
- DDEATH: the device's metrics are offline at once.
- STATE, NCMD, DCMD: handled, nothing to do (host application state, commands to edge nodes).

Sequence numbers (0–255, wrapping) are checked per edge node. A gap, data of an unknown alias, of an
unknown device or before any birth: the message is refused with the reason, the edge node is asked to
be born again (an NCMD `Node Control/Rebirth`, at most every `rebirth_every_s`), and its data is refused
until its NBIRTH comes. State is bounded: at most `max_nodes` edge nodes and `max_metrics` metrics in
all; a birth beyond them is refused (and that node's data after it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from google.protobuf.json_format import MessageToDict

from iotmon.core import timestamps
from iotmon.core.bridging import Birth, Presence, Rejected, Translation
from iotmon.core.sparkplug import naming
from iotmon.core.sparkplug.payloads import (
    BD_SEQ,
    NUMERIC,
    BadPayload,
    Metric,
    datatype_name,
    decode,
    long_metric,
    measured_at,
    moment,
    number,
    rebirth_request,
    unit_property,
)
from iotmon.core.sparkplug.sparkplug_b_pb2 import Payload

NAMESPACE = "spBv1.0"
NODE_KINDS = ("NBIRTH", "NDATA", "NDEATH", "NCMD")
DEVICE_KINDS = ("DBIRTH", "DDATA", "DDEATH", "DCMD")
UNIT_MAX = 20  # the Reading contract
LOCATION_MAX = 100
MAX_ORIGINAL = 64 * 1024  # bytes of an undecodable payload kept, base64, in its dead letter


@dataclass(frozen=True)
class SparkplugSettings:
    """How Sparkplug names become devices, and the translator's bounds."""

    device_id: str = "{node}-{device}-{metric}"  # placeholders: {group}, {node}, {device}, {metric}
    node_device_id: str = "{node}-{metric}"  # the edge node's own metrics
    location: str | None = "{group}"
    default_unit: str = "none"  # when neither `units` nor the birth's engUnit/unit property gives one
    sensor_types: Mapping[str, str] = field(default_factory=dict)  # metric name → sensor type
    units: Mapping[str, str] = field(default_factory=dict)  # metric name → unit
    skipped: tuple[str, ...] = ("Node Control/", "Device Control/", "Properties/", BD_SEQ)  # name prefixes
    max_nodes: int = 10_000
    max_metrics: int = 200_000
    rebirth_every_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Series:
    """A numeric metric: one device of ours."""

    device_id: str
    sensor_type: str
    unit: str
    location: str | None


@dataclass(frozen=True, slots=True)
class Known:
    """A metric a birth announced; `series` is None for one we skip (not numeric, or a control metric)."""

    name: str
    datatype: int
    series: Series | None


@dataclass(slots=True)
class Metrics:
    """The metrics of one Sparkplug device, or of the edge node itself."""

    by_alias: dict[int, Known] = field(default_factory=dict)
    by_name: dict[str, Known] = field(default_factory=dict)

    def find(self, metric: Metric) -> Known | None:
        if metric.HasField("alias"):
            return self.by_alias.get(metric.alias)
        return self.by_name.get(metric.name)

    def series(self) -> list[Series]:
        return [known.series for known in self.by_name.values() if known.series is not None]


@dataclass(slots=True)
class Node:
    """What an edge node's births said, and where its sequence is."""

    bd_seq: int | None = None
    seq: int | None = None
    own: Metrics | None = None  # None: not born (since the translator started, or since its death)
    devices: dict[str, Metrics] = field(default_factory=dict)
    awaiting: str | None = None  # why its data is refused until its next NBIRTH
    asked_at: datetime | None = None  # when a rebirth was last requested
    refused: str | None = None  # its birth was over the bounds: its data is refused, no rebirth asked

    def size(self) -> int:
        return len((self.own or Metrics()).by_name) + sum(len(device.by_name) for device in self.devices.values())

    def series(self) -> list[Series]:
        return [*(self.own or Metrics()).series(), *(s for device in self.devices.values() for s in device.series())]


@dataclass(frozen=True, slots=True)
class Topic:
    group: str
    kind: str
    node: str
    device: str | None


def parse_topic(topic: str) -> Topic | str | None:
    """The parts of a Sparkplug topic; why it is malformed; None: not a Sparkplug B topic (or STATE)."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE or (len(parts) > 1 and parts[1] == "STATE"):
        return None
    if len(parts) == 4 and parts[2] in NODE_KINDS and all(parts):
        return Topic(parts[1], parts[2], parts[3], None)
    if len(parts) == 5 and parts[2] in DEVICE_KINDS and all(parts):
        return Topic(parts[1], parts[2], parts[3], parts[4])
    return f"not a Sparkplug B topic: expected {NAMESPACE}/<group>/<kind>/<edge node>[/<device>]"


def host_state(host_id: str, online: bool, at: datetime) -> tuple[str, bytes]:
    """A host application's STATE message (Sparkplug 3.0: retained, QoS 1; the offline one as its will)."""
    body = {"online": online, "timestamp": int(at.timestamp() * 1000)}
    return f"{NAMESPACE}/STATE/{host_id}", json.dumps(body).encode()


def _original(payload: Payload | bytes) -> Any:
    if isinstance(payload, bytes):
        return {"base64": base64.b64encode(payload[:MAX_ORIGINAL]).decode(), "bytes": len(payload)}
    return MessageToDict(payload)


class _Out:
    """A translation being made."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.readings: list[dict[str, Any]] = []
        self.rejected: list[Rejected] = []
        self.births: list[Birth] = []
        self.presence: list[Presence] = []
        self.replies: list[tuple[str, bytes]] = []

    def reject(self, reason: str, original: Any) -> None:
        self.rejected.append(Rejected(reason, original, self.topic))

    def present(self, series: Iterable[Series], state: Literal["offline", "online"], at: datetime, why: str) -> None:
        self.presence += [Presence(s.device_id, state, at, why) for s in series]

    def done(self) -> Translation:
        return Translation(
            tuple(self.readings), tuple(self.rejected), tuple(self.births), tuple(self.presence), tuple(self.replies)
        )


class SparkplugTranslator:
    """Translates Sparkplug B messages, remembering the births of the edge nodes it hears (one bridge's worth)."""

    def __init__(self, settings: SparkplugSettings | None = None) -> None:
        self.settings = settings or SparkplugSettings()
        self.nodes: dict[tuple[str, str], Node] = {}
        self.metric_count = 0

    def translate(self, topic: str, payload: bytes, received_at: datetime) -> Translation | None:
        parsed = parse_topic(topic)
        if parsed is None:
            return None if not topic.startswith(f"{NAMESPACE}/STATE/") else Translation()
        out = _Out(topic)
        if isinstance(parsed, str):
            out.reject(parsed, _original(payload))
            return out.done()
        if parsed.kind in ("NCMD", "DCMD"):
            return out.done()  # commands to edge nodes (our own rebirth requests among them)
        try:
            decoded = decode(payload)
        except BadPayload as error:
            out.reject(str(error), _original(payload))
            return out.done()
        handler = {
            "NBIRTH": self._nbirth,
            "DBIRTH": self._dbirth,
            "NDATA": self._data,
            "DDATA": self._data,
            "NDEATH": self._ndeath,
            "DDEATH": self._ddeath,
        }[parsed.kind]
        handler(parsed, decoded, received_at, out)
        return out.done()

    # births

    def _nbirth(self, topic: Topic, payload: Payload, received_at: datetime, out: _Out) -> None:
        key = (topic.group, topic.node)
        old = self.nodes.pop(key, None)
        self.metric_count -= old.size() if old else 0
        node = Node(bd_seq=long_metric(payload, BD_SEQ), seq=payload.seq if payload.HasField("seq") else None)
        if len(self.nodes) >= self.settings.max_nodes:
            out.reject(
                f"edge node not kept: the translator keeps at most {self.settings.max_nodes}", _original(payload)
            )
            return
        self.nodes[key] = node
        own = self._learn(topic, payload, out)
        if own is None:
            node.refused = f"its NBIRTH was refused: over the bound of {self.settings.max_metrics} metrics"
            return
        node.own = own
        self._born(own, payload, received_at, topic, out)

    def _dbirth(self, topic: Topic, payload: Payload, received_at: datetime, out: _Out) -> None:
        node = self._checked(topic, payload, received_at, out)
        if node is None:
            return
        assert topic.device is not None
        old = node.devices.pop(topic.device, None)
        self.metric_count -= len(old.by_name) if old else 0
        metrics = self._learn(topic, payload, out)
        if metrics is None:
            return
        node.devices[topic.device] = metrics
        self._born(metrics, payload, received_at, topic, out)

    def _learn(self, topic: Topic, payload: Payload, out: _Out) -> Metrics | None:
        """The metrics a birth announces (None: over the bound, refused)."""
        if self.metric_count + len(payload.metrics) > self.settings.max_metrics:
            out.reject(
                f"{topic.kind} not kept: the translator keeps at most {self.settings.max_metrics} metrics",
                _original(payload),
            )
            return None
        metrics = Metrics()
        for metric in payload.metrics:
            if not metric.name:
                out.reject(f"{topic.kind} metric without a name", MessageToDict(metric))
                continue
            known = Known(metric.name, metric.datatype, self._series(topic, metric))
            metrics.by_name[metric.name] = known
            if metric.HasField("alias"):
                metrics.by_alias[metric.alias] = known
        self.metric_count += len(metrics.by_name)
        return metrics

    def _series(self, topic: Topic, metric: Metric) -> Series | None:
        settings = self.settings
        if metric.datatype not in NUMERIC or metric.name.startswith(settings.skipped):
            return None
        template = settings.device_id if topic.device is not None else settings.node_device_id
        unit = settings.units.get(metric.name) or unit_property(metric) or settings.default_unit
        location = settings.location.format(group=topic.group, node=topic.node) if settings.location else None
        return Series(
            device_id=naming.device_id(template, topic.group, topic.node, topic.device, metric.name),
            sensor_type=naming.sensor_type(metric.name, settings.sensor_types),
            unit=unit[:UNIT_MAX],
            location=location[:LOCATION_MAX] if location else None,
        )

    def _born(self, metrics: Metrics, payload: Payload, received_at: datetime, topic: Topic, out: _Out) -> None:
        series = metrics.series()
        out.births += [Birth(s.device_id, s.location, s.sensor_type, s.unit) for s in series]
        at = moment(payload.timestamp) if payload.HasField("timestamp") else received_at
        out.present(series, "online", at, f"{topic.kind} of {_name(topic)}")
        self._read(metrics, payload, received_at, topic, out)

    # data

    def _data(self, topic: Topic, payload: Payload, received_at: datetime, out: _Out) -> None:
        node = self._checked(topic, payload, received_at, out)
        if node is None:
            return
        metrics = node.own if topic.device is None else node.devices.get(topic.device)
        if metrics is None:
            self._ask(topic, node, f"{topic.kind} of {_name(topic)}, which was not born", received_at, out)
            out.reject(f"{topic.kind} before a DBIRTH of {_name(topic)}: rebirth requested", _original(payload))
            return
        self._read(metrics, payload, received_at, topic, out)

    def _read(self, metrics: Metrics, payload: Payload, received_at: datetime, topic: Topic, out: _Out) -> None:
        unknown = []
        for metric in payload.metrics:
            known = metrics.find(metric)
            if known is None:
                unknown.append(metric)
                continue
            if known.series is None or metric.is_null:
                continue  # not ours to read (its datatype says so, or a control metric), or no value now
            value = number(metric, known.datatype)
            if isinstance(value, str):
                out.reject(f"metric {known.name!r} ({datatype_name(known.datatype)}): {value}", MessageToDict(metric))
                continue
            out.readings.append(_reading(known.series, value, measured_at(metric, payload, received_at)))
        if unknown:
            labels = [f"alias {m.alias}" if m.HasField("alias") else f"metric {m.name!r}" for m in unknown]
            node = self.nodes[(topic.group, topic.node)]
            self._ask(
                topic, node, f"unknown {', '.join(labels[:5])} in {topic.kind} of {_name(topic)}", received_at, out
            )
            for label, metric in zip(labels, unknown, strict=True):
                out.reject(f"{label} unknown to the births of {_name(topic)}: rebirth requested", MessageToDict(metric))

    # deaths

    def _ndeath(self, topic: Topic, payload: Payload, received_at: datetime, out: _Out) -> None:
        key = (topic.group, topic.node)
        node = self.nodes.get(key)
        if node is None or node.own is None:
            out.reject(f"NDEATH of {_name(topic)}, which was not born since the bridge started", _original(payload))
            return
        bd_seq = long_metric(payload, BD_SEQ)
        if bd_seq is not None and node.bd_seq is not None and bd_seq != node.bd_seq:
            out.reject(
                f"NDEATH ignored: bdSeq {bd_seq} is not the current NBIRTH's ({node.bd_seq})", _original(payload)
            )
            return
        # The will's timestamp is when the node connected, not when it died: the death is now.
        out.present(node.series(), "offline", received_at, f"NDEATH of {_name(topic)}")
        del self.nodes[key]
        self.metric_count -= node.size()

    def _ddeath(self, topic: Topic, payload: Payload, received_at: datetime, out: _Out) -> None:
        node = self._checked(topic, payload, received_at, out)
        if node is None:
            return
        assert topic.device is not None
        metrics = node.devices.pop(topic.device, None)
        if metrics is None:
            out.reject(f"DDEATH of {_name(topic)}, which was not born", _original(payload))
            return
        self.metric_count -= len(metrics.by_name)
        at = moment(payload.timestamp) if payload.HasField("timestamp") else received_at
        out.present(metrics.series(), "offline", at, f"DDEATH of {_name(topic)}")

    # sequence and rebirth

    def _checked(self, topic: Topic, payload: Payload, received_at: datetime, out: _Out) -> Node | None:
        """The edge node of a message after its NBIRTH, in sequence; None (refused, rebirth asked) otherwise."""
        key = (topic.group, topic.node)
        node = self.nodes.get(key)
        if node is None:
            if len(self.nodes) >= self.settings.max_nodes:
                out.reject(
                    f"edge node not kept: the translator keeps at most {self.settings.max_nodes}", _original(payload)
                )
                return None
            node = self.nodes[key] = Node()
        if node.refused:
            out.reject(f"{topic.kind} of {_name(topic)} refused: {node.refused}", _original(payload))
            return None
        if node.own is None:
            node.awaiting = node.awaiting or f"{topic.kind} of {_name(topic)} before its NBIRTH"
        elif payload.HasField("seq") and node.awaiting is None:
            expected = payload.seq if node.seq is None else (node.seq + 1) % 256
            node.seq = payload.seq
            if payload.seq != expected:
                node.awaiting = f"seq {payload.seq} where {expected} was expected"
        if node.awaiting is not None:
            self._ask(topic, node, node.awaiting, received_at, out)
            out.reject(
                f"{topic.kind} refused until {_name(topic, device=False)} is born again: {node.awaiting}",
                _original(payload),
            )
            return None
        return node

    def _ask(self, topic: Topic, node: Node, why: str, received_at: datetime, out: _Out) -> None:
        """Ask the edge node for a rebirth (unless asked within `rebirth_every_s`); refuse its data until it comes."""
        node.awaiting = node.awaiting or why
        every = timedelta(seconds=self.settings.rebirth_every_s)
        if node.asked_at is None or received_at - node.asked_at >= every:
            node.asked_at = received_at
            out.replies.append((f"{NAMESPACE}/{topic.group}/NCMD/{topic.node}", rebirth_request(received_at)))


def _name(topic: Topic, *, device: bool = True) -> str:
    path = f"{topic.group}/{topic.node}"
    return f"{path}/{topic.device}" if device and topic.device else path


def _reading(series: Series, value: float, at: datetime) -> dict[str, Any]:
    reading: dict[str, Any] = {
        "deviceId": series.device_id,
        "timestamp": timestamps.iso(at),
        "sensorType": series.sensor_type,
        "value": value,
        "unit": series.unit,
        "status": "active",
    }
    if series.location is not None:
        reading["location"] = series.location
    return reading
