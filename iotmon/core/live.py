"""The Socket.IO messages for an alert change: the dashboard's live view (pure: no I/O).

Seed payloads (architecture §4.6) extended compatibly with the change's
status, action, sequence and details. The names follow the service's replay
of missed changes (iotmon/service/realtime.py), so a live client and a
reconnecting one see the same events: `alert-resolved` for a resolve,
`alert-triggered` for every other change (triggered, escalated — which
notifies again — acknowledged, updated; `action` and `status` say which).
A `device_offline` alert also moves the device's `device-status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

# Rooms a client joins: a device's readings and status, the alerts, the system's status.
ALERTS_ROOM = "alerts"
SYSTEM_ROOM = "system"


def device_room(device_id: str) -> str:
    return f"device:{device_id}"


ALERT_TRIGGERED = "alert-triggered"
ALERT_RESOLVED = "alert-resolved"
DEVICE_STATUS = "device-status"
DEVICE_OFFLINE = "device_offline"

_SEED_FIELDS = ("alertId", "deviceId", "type", "severity", "message", "value", "threshold", "timestamp")


class LiveMessage(NamedTuple):
    event: str
    data: dict[str, Any]
    room: str


def live_messages(change: Mapping[str, Any]) -> list[LiveMessage]:
    payload: dict[str, Any] = {name: change.get(name) for name in _SEED_FIELDS}
    payload.update(change)
    if change["action"] == "resolved":
        payload["resolvedAt"] = change["timestamp"]
        if change.get("actor"):
            payload["resolvedBy"] = change["actor"]
        messages = [LiveMessage(ALERT_RESOLVED, payload, ALERTS_ROOM)]
    else:
        messages = [LiveMessage(ALERT_TRIGGERED, payload, ALERTS_ROOM)]
    if change["type"] == DEVICE_OFFLINE and change["action"] in ("triggered", "resolved"):
        status = {
            "deviceId": change["deviceId"],
            "status": "offline" if change["action"] == "triggered" else "online",
            "timestamp": change["timestamp"],
            "alertId": change["alertId"],
        }
        messages += [
            LiveMessage(DEVICE_STATUS, status, device_room(change["deviceId"])),
            LiveMessage(DEVICE_STATUS, status, SYSTEM_ROOM),
        ]
    return messages
