"""What Knative's sources send: KafkaSource's event for a Kafka record, PingSource's tick.

A KafkaSource forwards a record that carries a binary-mode CloudEvent (`ce_*`
headers) as that event; a record whose `ce_*` headers make no valid CloudEvent
(specversion not 1.0, no id, source or type, a `time` that is no RFC 3339
timestamp) is `InvalidEvent`, which the router dead-letters with the reason:
it is never delivered, so never mistaken for a plain record. Any other record,
it wraps: type
`dev.knative.kafka.event`, source
`/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>`, subject
`partition:<p>#<offset>`, id `partition:<p>/offset:<o>`, the record key as the
`partitionkey` and `key` extensions, each other header as a
`kafkaheader<name>` extension, `content-type` as `datacontenttype`, and the
value as the data. (The data plane's InvalidCloudEventInterceptor does this.)

A function that receives such a wrapped record calls `unwrap` to see it as the
event of this system it stands for, judged by the shape of its data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from cloudevents.http import CloudEvent

from eventing.binding import claims_cloudevent, decode
from eventing.events import JSON, PING, PRESENCE, READING, READING_BATCH, alert_type, make_event
from eventing.transport import Record
from iotmon.core.alerts import ACTIONS
from iotmon.core.contracts.presence import DevicePresence
from iotmon.core.contracts.readings import Reading
from iotmon.core.readings import Rejection, as_json, parse_batch, parse_reading

log = logging.getLogger(__name__)

KAFKA_EVENT = "dev.knative.kafka.event"
NAMESPACE = "iot-monitoring"  # knative/'s kustomization puts every resource here

_NOT_IN_A_NAME = re.compile(r"[^a-z0-9]")


def kafka_source(name: str, namespace: str = NAMESPACE) -> str:
    return f"/apis/v1/namespaces/{namespace}/kafkasources/{name}"


def ping_source(name: str, namespace: str = NAMESPACE) -> str:
    return f"/apis/v1/namespaces/{namespace}/pingsources/{name}"


class InvalidEvent(ValueError):
    """A record whose `ce_*` headers make no valid CloudEvent; the message says why."""


def record_event(record: Record, source_name: str, namespace: str = NAMESPACE) -> CloudEvent:
    """The event a KafkaSource named `source_name` sends for `record`; raises InvalidEvent."""
    if claims_cloudevent(record.headers):
        try:
            return decode(record.headers, record.key, record.value)
        except ValueError as error:
            raise InvalidEvent(str(error)) from None
    return wrap_record(record, source_name, namespace)


def wrap_record(record: Record, source_name: str, namespace: str = NAMESPACE) -> CloudEvent:
    attributes: dict[str, Any] = {
        "type": KAFKA_EVENT,
        "source": f"{kafka_source(source_name, namespace)}#{record.topic}",
        "subject": f"partition:{record.partition}#{record.offset}",
        "id": f"partition:{record.partition}/offset:{record.offset}",
    }
    if record.key is not None:
        key = record.key.decode("utf-8", errors="replace") if isinstance(record.key, bytes) else str(record.key)
        attributes["partitionkey"] = attributes["key"] = key
    for name, value in record.headers:
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        if name.lower() == "content-type":
            attributes["datacontenttype"] = text.lower()
        else:
            attributes["kafkaheader" + _NOT_IN_A_NAME.sub("", name.lower())] = text
    return CloudEvent(attributes, record.value)


def ping_event(
    name: str, data: str, content_type: str | None = "application/json", namespace: str = NAMESPACE
) -> CloudEvent:
    """A PingSource tick: its `spec.data` as the data, sent as is."""
    event = make_event(PING, ping_source(name, namespace), data)
    if content_type:
        event["datacontenttype"] = content_type
    else:
        del event["datacontenttype"]
    return event


def unwrap(event: CloudEvent) -> CloudEvent:
    """For a wrapped plain record, the event of this system its JSON data makes it; any other event as it is.

    `{"readings": [...]}` is a reading batch, an object with `alertId` and a known
    `action` an alert change, any other object with `deviceId` a reading. Data
    that is none of these leaves the event as `dev.knative.kafka.event`, which
    the functions refuse as an unknown type.
    """
    if event["type"] != KAFKA_EVENT or any(name.startswith("kafkaheaderce") for name in event.get_attributes()):
        return event  # (a record with broken CloudEvent headers, as dead-lettered: not data of this system)
    data = event.get_data()
    try:
        shape = msgspec.json.decode(data) if isinstance(data, (bytes, bytearray, str)) else data
    except msgspec.DecodeError:
        return event
    if not isinstance(shape, dict):
        return event
    if isinstance(shape.get("readings"), list):
        type_ = READING_BATCH
    elif "alertId" in shape and shape.get("action") in ACTIONS:
        type_ = alert_type(shape["action"])
    elif "deviceId" in shape:
        type_ = READING
    else:
        return event
    attributes = {**event.get_attributes(), "type": type_}
    attributes.setdefault("datacontenttype", "application/json")
    return CloudEvent(attributes, data)


def readings_of(events: Sequence[CloudEvent]) -> tuple[list[Reading], list[str]]:
    """Every reading the events carry, and why each event that carries none is refused.

    Readings on `metrics` were validated by ingest, the topic's only writer: they are read with their types
    checked, not their values again (iotmon.core.contracts.unchecked); a bad one among good ones is a contract
    break upstream, logged and skipped.
    """
    found: list[Reading] = []
    refused: list[str] = []
    for event in events:
        if event["type"] == PRESENCE:
            continue  # on `metrics` beside readings: evaluate-rule's (presences_of), no reading in it
        readings, bad = readings_in(event, checked=False)
        if bad and not readings:
            refused.append(f"event {event['id']}: {bad[0].reason}")
        elif bad:
            log.warning("invalid readings on metrics", extra={"event": event["id"], "count": len(bad)})
        found += readings
    return found, refused


def readings_in(event: CloudEvent, checked: bool = True) -> tuple[list[Reading], list[Rejection]]:
    """The readings a reading or batch event carries (wrapped or not), and a rejection for each bad one
    (or one for the whole event: another type, not JSON); `checked=False`: a batch's values are not checked
    again (`parse_batch`)."""
    event = unwrap(event)
    data = event.get_data() or b""
    content_type = event.get("datacontenttype") or JSON
    if not content_type.startswith(JSON):
        return [], [Rejection(f"data content type {content_type!r} is not {JSON}", as_json(data))]
    if event["type"] == READING:
        try:
            return [parse_reading(data)], []
        except ValueError as error:
            return [], [Rejection(str(error), as_json(data))]
    if event["type"] == READING_BATCH:
        return parse_batch(data, checked)
    return [], [
        Rejection(f"unknown event type {event['type']!r} (expected {READING} or {READING_BATCH})", as_json(data))
    ]


_presence_decoder = msgspec.json.Decoder(DevicePresence)


def presence_in(event: CloudEvent) -> DevicePresence | Rejection | None:
    """The report a presence event carries, or why it is none; None for an event of another type."""
    if event["type"] != PRESENCE:
        return None
    data = event.get_data() or b""
    content_type = event.get("datacontenttype") or JSON
    if not content_type.startswith(JSON):
        return Rejection(f"data content type {content_type!r} is not {JSON}", as_json(data))
    try:
        if isinstance(data, (bytes, bytearray, str)):
            return _presence_decoder.decode(data)
        return msgspec.convert(data, DevicePresence)
    except msgspec.ValidationError as error:  # (a DecodeError too: first)
        return Rejection(f"not a device presence: {error}", as_json(data))
    except msgspec.DecodeError as error:
        return Rejection(f"malformed JSON: {error}", as_json(data))


def presences_of(events: Sequence[CloudEvent]) -> tuple[list[DevicePresence], list[str]]:
    """The presence reports among the events, in order, and why each bad one is refused."""
    found: list[DevicePresence] = []
    refused: list[str] = []
    for event in events:
        presence = presence_in(event)
        if isinstance(presence, Rejection):
            refused.append(f"event {event['id']}: {presence.reason}")
        elif presence is not None:
            found.append(presence)
    return found, refused
