"""Presence: the plant saying a device went offline or came back (a Sparkplug B death or birth)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.contracts.common import Body, DeviceId, Line
from iotmon.core.contracts.readings import RFC3339

PresenceState = Literal["offline", "online"]


class DevicePresence(Body):
    """A device the plant reports offline or back online. CloudEvent type io.iotmon.device.presence.v1, data
    content type application/json, partition key = the device's ordering key (as its readings'). On `sensors-data` from a bridge; ingest passes it
    on to `metrics` for a device in service, where evaluate-rule opens (offline) or resolves (online) the
    device's `device_offline` alert at once, without waiting for its offline timeout."""

    device_id: DeviceId
    state: Annotated[PresenceState, msgspec.Meta(description="offline: gone now; online: back.")]
    timestamp: Annotated[
        str,
        msgspec.Meta(
            pattern=RFC3339,
            description="When the plant reported it: RFC 3339, as a reading's timestamp.",
            extra_json_schema={"format": "date-time"},
        ),
    ]
    reason: Annotated[
        Line, msgspec.Meta(max_length=200, description="What reported it, e.g. NDEATH of plant/edge1.")
    ] = ""
