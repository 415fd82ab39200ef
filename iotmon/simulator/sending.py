"""Grouped publishing with a tally, shared by the load and replay modes.

Events wait in `pending` until `flush()`, so a sender that falls behind its
schedule sends many events per publish call (one Kafka flush instead of one
per event). A failed publish loses that group; it is logged and counted,
never raised, so a broker hiccup does not end a long run.
"""

from __future__ import annotations

import logging

from cloudevents.http import CloudEvent

from eventing.topics import SENSORS_DATA
from eventing.transport import Publisher

log = logging.getLogger(__name__)


class Sender:
    def __init__(self, publisher: Publisher, topic: str = SENSORS_DATA) -> None:
        self.publisher = publisher
        self.topic = topic
        self.pending: list[CloudEvent] = []
        self._pending_readings = 0
        self.events = 0  # events the transport accepted
        self.sent = 0  # readings in them
        self.errors = 0  # events it refused
        self.lost = 0  # readings in them

    def add(self, event: CloudEvent, readings: int = 1) -> None:
        self.pending.append(event)
        self._pending_readings += readings

    def flush(self) -> None:
        events, readings = self.pending, self._pending_readings
        self.pending, self._pending_readings = [], 0
        if not events:
            return
        try:
            self.publisher.publish(self.topic, events)
        except Exception as error:  # any transport failure: count it and carry on
            self.errors += len(events)
            self.lost += readings
            log.warning(
                "simulator could not publish",
                extra={
                    "topic": self.topic,
                    "events": len(events),
                    "readings": readings,
                    "error": f"{type(error).__name__}: {error}",
                },
            )
            return
        self.events += len(events)
        self.sent += readings
