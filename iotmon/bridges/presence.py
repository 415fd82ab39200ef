"""The presence hook of the bridges: what the plant says of devices coming and going, onto `sensors-data`.

A translator's `Presence` entries (a Sparkplug NDEATH, DDEATH or birth) become
`io.iotmon.device.presence.v1` events keyed by the device's ordering key
(`iotmon.core.readings.ordering_key`, as the API queues readings), so each
keeps its place among the device's readings when the bridge keys them alike;
ingest passes them on to `metrics`, where evaluate-rule opens or resolves the
`device_offline` alert at once (and notify moves the device's `device-status`). Event ids are derived from the report, so a
bridge that publishes one again after a crash sends the same event.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventing import topics
from eventing.events import presence_event
from eventing.transport import Publisher
from iotmon.core import timestamps
from iotmon.core.bridging import Presence
from iotmon.core.contracts.presence import DevicePresence

SOURCE = "/iotmon/bridge"
REASON_MAX = 200  # the DevicePresence contract


def presence_data(presence: Presence) -> DevicePresence:
    return DevicePresence(
        device_id=presence.device_id,
        state=presence.state,
        timestamp=timestamps.iso(presence.at),
        reason="".join(c if c.isprintable() else "?" for c in presence.reason[:REASON_MAX]),
    )


def publish_presence(publisher: Publisher, presences: Sequence[Presence], source: str = SOURCE) -> None:
    """Send presence reports to `sensors-data`; returns once the transport has them (raises otherwise)."""
    if presences:
        publisher.publish(topics.SENSORS_DATA, [presence_event(presence_data(p), source) for p in presences])
