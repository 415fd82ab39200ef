"""What a plant protocol message becomes: the one contract between protocol translators and the bridges.

A bridge (MQTT, OPC UA) receives messages; a translator (the default MQTT
topic convention, the user's mapping rules, Sparkplug B) turns each one into
a `Translation` without any I/O; the bridge then carries it out: readings onto
`sensors-data`, rejections onto the dead-letter topic, births registered,
deaths reported, replies published back to the broker. Only after all of it
has been accepted does the bridge acknowledge the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message (or part of one) that cannot be a reading: it goes to the dead-letter topic."""

    reason: str
    original: Any  # what was received, as JSON-able data (text, or a decoded payload)
    origin: str  # where it came from: the MQTT topic, the OPC UA node id


@dataclass(frozen=True, slots=True)
class Birth:
    """A device announced by the plant (a Sparkplug DBIRTH): registered if the bridge's key allows it."""

    device_id: str
    location: str | None
    sensor_type: str
    unit: str


@dataclass(frozen=True, slots=True)
class Presence:
    """A device the plant says is gone (a Sparkplug NDEATH/DDEATH) or back, at a time."""

    device_id: str
    state: Literal["offline", "online"]
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Translation:
    readings: tuple[Mapping[str, Any], ...] = ()  # in the shape of the Reading contract (camelCase JSON)
    rejected: tuple[Rejected, ...] = ()
    births: tuple[Birth, ...] = ()
    presence: tuple[Presence, ...] = ()
    replies: tuple[tuple[str, bytes], ...] = field(default=())  # (topic, payload) to publish back


class Translator(Protocol):
    def translate(self, topic: str, payload: bytes, received_at: datetime) -> Translation | None:
        """The message's translation, or None when this translator does not handle the topic."""
