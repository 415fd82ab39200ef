"""ingest: sensors-data → PostgreSQL (COPY, idempotent) → metrics; bad events → the dead-letter topic.

A reading event (`io.iotmon.reading.v1`) or a gateway's batch
(`io.iotmon.reading.batch.v1`) is validated against `schema/events/`. Good
readings are stored in one COPY and passed on to `metrics` as one batch event
per arrival key (device or gateway); each bad one goes to `sensors-data.dlq` with the reason and what
was sent, and so does a reading of a device that is not registered or was
decommissioned (devices are registered through the API, never by a reading).
A device presence report (`io.iotmon.device.presence.v1`, from a bridge: the
plant says a device is offline or back) is checked the same way and passed on
to `metrics` as it is, for evaluate-rule; it stores nothing.
A redelivered event stores nothing twice; it is passed on again, since the
first delivery may have failed before it was.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import msgspec
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing import topics
from eventing.events import PRESENCE, READING_BATCH, make_event, presence_event, rejected_event
from eventing.sources import presence_in, readings_in, unwrap
from eventing.transport import Publisher
from functions import environment
from functions.serving import entry_point
from iotmon.adapters.postgres import registry, storage
from iotmon.core.contracts.presence import DevicePresence
from iotmon.core.contracts.readings import Reading
from iotmon.core.readings import (
    Rejection,
    batch_positions,
    check_time,
    check_timestamp,
    to_json,
    utcnow,
)

log = logging.getLogger(__name__)

SOURCE = "/iotmon/ingest"
METRICS_BATCH = 1000  # readings per event on `metrics`: ~200 kB, well under Kafka's 1 MB record limit
_IDS = uuid.UUID("3b8f5f8e-8d1e-4f4e-9c55-2f6d0e6b1a11")  # namespace for deterministic event ids


@dataclass(frozen=True)
class Arrival:
    key: str  # the key it arrived under: its device, or its gateway
    reading: Reading
    index: int | None  # its position in a batch event
    event: CloudEvent


@dataclass(frozen=True)
class Sorted:
    arrivals: list[Arrival]  # valid readings
    rejected: list[tuple[Rejection, CloudEvent]]
    presences: list[tuple[DevicePresence, CloudEvent]] = field(default_factory=list)  # valid presence reports

    @property
    def by_key(self) -> dict[str, list[Reading]]:
        grouped: dict[str, list[Reading]] = defaultdict(list)
        for arrival in self.arrivals:
            grouped[arrival.key].append(arrival.reading)
        return dict(grouped)

    @property
    def readings(self) -> list[Reading]:
        return [arrival.reading for arrival in self.arrivals]

    @property
    def device_ids(self) -> set[str]:
        return {arrival.reading.device_id for arrival in self.arrivals} | {p.device_id for p, _ in self.presences}

    def in_service(self, entries: dict[str, registry.Entry]) -> Sorted:
        """Only the readings of devices in service; the others rejected with the reason (pure)."""
        kept, rejected = [], list(self.rejected)
        for arrival in self.arrivals:
            if (reason := registry.refusal(arrival.reading.device_id, entries)) is None:
                kept.append(arrival)
            else:
                rejected.append((Rejection(reason, to_json(arrival.reading), arrival.index), arrival.event))
        presences = []
        for presence, cause in self.presences:
            if (reason := registry.refusal(presence.device_id, entries)) is None:
                presences.append((presence, cause))
            else:
                rejected.append((Rejection(reason, msgspec.to_builtins(presence)), cause))
        return Sorted(kept, rejected, presences)


def sort_events(events: Sequence[CloudEvent], now: datetime) -> Sorted:
    """Split events into valid readings and rejections (pure: no I/O)."""
    arrivals: list[Arrival] = []
    rejected: list[tuple[Rejection, CloudEvent]] = []
    presences: list[tuple[DevicePresence, CloudEvent]] = []
    for event in events:
        typed = unwrap(event)  # a KafkaSource-wrapped plain record, as the reading (batch) it carries
        if typed["type"] == PRESENCE:
            presence = presence_in(typed)
            if isinstance(presence, DevicePresence) and (reason := check_timestamp(presence.timestamp, now)):
                presence = Rejection(reason, msgspec.to_builtins(presence))
            if isinstance(presence, DevicePresence):
                presences.append((presence, event))
            elif presence is not None:
                rejected.append((presence, event))
            continue
        good, bad = readings_in(typed)
        in_batch = typed["type"] == READING_BATCH
        for position, reading in zip(batch_positions(good, bad), good, strict=True):
            index = position if in_batch else None
            reason = check_time(reading, now)
            if reason is None:
                arrivals.append(Arrival(event.get("partitionkey") or reading.device_id, reading, index, event))
            else:
                bad.append(Rejection(reason, to_json(reading), index))
        rejected.extend((rejection, event) for rejection in bad)
    return Sorted(arrivals, rejected, presences)


def metrics_events(by_key: dict[str, list[Reading]]) -> list[CloudEvent]:
    """One batch event per key the readings arrived under (a device, or its gateway).

    Keeping the key keeps each device's readings in order on one partition
    downstream, with a handful of events per batch rather than one per device.
    """
    events = []
    for key, readings in by_key.items():
        for start in range(0, len(readings), METRICS_BATCH):
            group = readings[start : start + METRICS_BATCH]
            data = b'{"readings":' + msgspec.json.encode(group) + b"}"
            # The same readings give the same id, so consumers can spot a redelivery.
            event_id = str(uuid.uuid5(_IDS, f"{key}/{group[0].timestamp}/{group[-1].timestamp}/{len(group)}"))
            events.append(make_event(READING_BATCH, SOURCE, data, key=key, subject=key, event_id=event_id))
    return events


def dead_letters(rejected: Sequence[tuple[Rejection, CloudEvent]]) -> list[CloudEvent]:
    letters = []
    for rejection, cause in rejected:
        letter = rejected_event(rejection.reason, rejection.payload, cause, rejection.index)
        letter["id"] = str(uuid.uuid5(_IDS, f"{cause['source']}/{cause['id']}/{rejection.index}"))
        letters.append(letter)
    return letters


class Ingest:
    """The function's core: takes a batch of events in-process."""

    def __init__(self, pool: ConnectionPool, publisher: Publisher) -> None:
        self.pool = pool
        self.publisher = publisher

    def __call__(self, events: Sequence[CloudEvent]) -> int:
        """Handle events; returns the number of new readings stored. Raises to ask for redelivery."""
        result = sort_events(events, utcnow())
        stored = 0
        if result.arrivals or result.presences:
            with self.pool.connection() as conn:
                # A reading of a device that is not in service can never be stored: it is dead-lettered now,
                # never retried, so it cannot hold up the readings behind it on its partition.
                result = result.in_service(registry.lookup(conn, result.device_ids))
                if result.arrivals:
                    stored = storage.write_readings(conn, result.readings)
        if result.arrivals or result.presences:
            passed_on = metrics_events(result.by_key) + [presence_event(p, SOURCE) for p, _ in result.presences]
            self.publisher.publish(topics.METRICS, passed_on)
        if result.rejected:
            self.publisher.publish(topics.SENSORS_DATA_DLQ, dead_letters(result.rejected))
            for rejection, cause in result.rejected[:5]:
                log.info("reading rejected", extra={"event": cause["id"], "reason": rejection.reason})
        return stored


# functions-framework entry point: one event per HTTP request, from a KafkaSource.


@cache
def _instance() -> Ingest:
    return Ingest(environment.database(), environment.kafka())


handle = entry_point(_instance)
