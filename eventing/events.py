"""The CloudEvents this system sends, built in one place.

Every event carries `datacontenttype` (the Kafka binding needs it) and a
`partitionkey` extension, which the binary binding turns into the record key so
that one device's events stay in order on one partition.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from cloudevents.http import CloudEvent

from eventing import topics
from eventing.transport import Publisher
from iotmon.core.alerts import ACTIONS
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.contracts.presence import DevicePresence
from iotmon.core.contracts.readings import RejectedEvent, RejectedReading
from iotmon.core.readings import ordering_key

READING = "io.iotmon.reading.v1"
READING_BATCH = "io.iotmon.reading.batch.v1"
READING_REJECTED = "io.iotmon.reading.rejected.v1"
PRESENCE = "io.iotmon.device.presence.v1"
PING = "dev.knative.sources.ping"

JSON = "application/json"
_PRESENCE_IDS = uuid.UUID("9d0c1f0e-5b7a-4c55-8a43-1f3e9b2d6c70")  # namespace of presence event ids
_ATTRIBUTES = ("id", "type", "source", "subject", "time")  # of the refused event, kept in its dead letter
BATCH_READINGS = 1000  # readings per batch event: ~200 kB, well under Kafka's 1 MB record limit
MAX_ORIGINAL = 256 * 1024  # bytes of a rejected payload kept in its dead letter (Kafka records stop at 1 MB)


def make_event(
    type_: str,
    source: str,
    data: Any,
    *,
    key: str | None = None,
    subject: str | None = None,
    event_id: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> CloudEvent:
    attributes: dict[str, Any] = {
        "type": type_,
        "source": source,
        "id": event_id or str(uuid.uuid4()),
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": JSON,
    }
    if key is not None:
        attributes["partitionkey"] = key
    if subject is not None:
        attributes["subject"] = subject
    attributes.update(extensions or {})
    return CloudEvent(attributes, data)


def reading_event(reading: Mapping[str, Any], source: str) -> CloudEvent:
    """One reading, keyed by its device (what a device, or the simulator, sends)."""
    device = reading["deviceId"]
    return make_event(READING, source, dict(reading), key=device, subject=device)


def batch_event(readings: Iterable[Mapping[str, Any]], source: str, key: str) -> CloudEvent:
    """Many readings in one event, as a gateway (or ingest, towards `metrics`) sends them."""
    return make_event(READING_BATCH, source, {"readings": list(readings)}, key=key, subject=key)


def reading_batches(readings: Iterable[Mapping[str, Any]], source: str) -> list[CloudEvent]:
    """Readings as batch events under their devices' ordering keys (iotmon.core.readings.ordering_key), each
    device's in the order given, at most BATCH_READINGS to an event: how the API and the bridges queue readings."""
    by_key: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for reading in readings:
        by_key[ordering_key(reading["deviceId"])].append(reading)
    return [
        batch_event(group[start : start + BATCH_READINGS], source, key=key)
        for key, group in by_key.items()
        for start in range(0, len(group), BATCH_READINGS)
    ]


def presence_event(presence: DevicePresence, source: str) -> CloudEvent:
    """A device the plant reports offline or online, keyed by the device's ordering key (as the API queues its
    readings), so that it keeps its place among them. The same report gets the same id, wherever it is sent from."""
    device = presence.device_id
    event_id = str(uuid.uuid5(_PRESENCE_IDS, f"{device}/{presence.state}/{presence.timestamp}"))
    data = msgspec.to_builtins(presence)
    return make_event(PRESENCE, source, data, key=ordering_key(device), subject=device, event_id=event_id)


def rejected_event(
    reason: str,
    original: Any,
    cause: CloudEvent | None,
    index: int | None = None,
    *,
    origin: str | None = None,
    source: str = "/iotmon/ingest",
) -> CloudEvent:
    """A dead-letter record: why, what was sent, and which event (or, from a bridge, which topic) it came in."""
    encoded = msgspec.json.encode(original)
    if len(encoded) > MAX_ORIGINAL:
        original = {"truncated": True, "bytes": len(encoded), "head": encoded[:MAX_ORIGINAL].decode("utf-8", "replace")}
    data = RejectedReading(
        reason=reason,
        original=original,
        index=msgspec.UNSET if index is None else index,
        event=msgspec.UNSET if cause is None else RejectedEvent(**{name: cause.get(name) for name in _ATTRIBUTES}),
        origin=msgspec.UNSET if origin is None else origin,
    )
    key = cause.get("partitionkey") if cause is not None else None
    extensions = {"iotmonerror": reason[:200]}
    return make_event(READING_REJECTED, source, msgspec.to_builtins(data), key=key, extensions=extensions)


def alert_type(action: str) -> str:
    """The CloudEvent type of an alert change: io.iotmon.alert.<action>.v1."""
    if action not in ACTIONS:
        raise ValueError(f"unknown alert action {action!r}")
    return f"io.iotmon.alert.{action}.v1"


def alert_event(change: AlertChange, source: str) -> CloudEvent:
    """An alert change keyed by its device.

    The id is derived from the history sequence, so a redelivered change keeps its id.
    """
    return make_event(
        alert_type(change.action),
        source,
        msgspec.to_builtins(change),
        key=change.device_id,
        subject=change.alert_id,
        event_id=f"{change.alert_id}/{change.sequence or change.action}",
    )


def alert_sender(publisher: Publisher) -> Callable[[Sequence[tuple[str, AlertChange]]], None]:
    """What the alert outbox relays through: (source, change) pairs as alert events onto `alerts`."""

    def send(pending: Sequence[tuple[str, AlertChange]]) -> None:
        publisher.publish(topics.ALERTS, [alert_event(change, source) for source, change in pending])

    return send
