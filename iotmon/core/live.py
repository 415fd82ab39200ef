"""The Socket.IO messages of the dashboard's live view: rooms, event names, payloads (pure: no I/O).

An alert change makes `alert-resolved` for a resolve and `alert-triggered` for
every other change (triggered, escalated — which notifies again —,
acknowledged, updated; its `action` and `status` say which), to the `alerts`
room. A client that reconnects gets the same messages again for what it missed
(marked `replayed`). A `device_offline` alert also moves the device's
`device-status`. A new reading is `sensor-data` to its device's room.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from iotmon.core.alerts import DEVICE_OFFLINE
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.contracts.devices import Level, WindowStats
from iotmon.core.contracts.live import DeviceStatusChange, LiveAlert, SensorData, SensorStats, SensorValue

# Rooms a client joins: a device's readings and status, the alerts, the system's status.
ALERTS_ROOM = "alerts"
SYSTEM_ROOM = "system"
FLEET_ROOM = "fleet"  # the fleet's states, aggregated: `fleet-status` at most once a second

ALERT_TRIGGERED = "alert-triggered"
ALERT_RESOLVED = "alert-resolved"
DEVICE_STATUS = "device-status"
SENSOR_DATA = "sensor-data"
FLEET_STATUS = "fleet-status"


def device_room(device_id: str) -> str:
    return f"device:{device_id}"


class LiveMessage(NamedTuple):
    event: str
    data: msgspec.Struct
    room: str


def alert_message(change: AlertChange, *, replayed: bool = False) -> LiveMessage:
    """`alert-triggered` or `alert-resolved` for one alert change (`replayed`: sent again after a reconnect)."""
    resolved = change.action == "resolved"
    payload = LiveAlert(
        **msgspec.structs.asdict(change),
        resolved_at=change.timestamp if resolved else msgspec.UNSET,
        resolved_by=change.actor if resolved and change.actor else msgspec.UNSET,
        replayed=True if replayed else msgspec.UNSET,
    )
    return LiveMessage(ALERT_RESOLVED if resolved else ALERT_TRIGGERED, payload, ALERTS_ROOM)


def alert_messages(change: AlertChange, *, replayed: bool = False) -> list[LiveMessage]:
    """What the live view hears of one alert change: the alert's message, and a device's status if it moved."""
    messages = [alert_message(change, replayed=replayed)]
    if change.type == DEVICE_OFFLINE and change.action in ("triggered", "resolved"):
        status = DeviceStatusChange(
            device_id=change.device_id,
            status="offline" if change.action == "triggered" else "online",
            timestamp=change.timestamp,
            alert_id=change.alert_id,
        )
        messages += [
            LiveMessage(DEVICE_STATUS, status, device_room(change.device_id)),
            LiveMessage(DEVICE_STATUS, status, SYSTEM_ROOM),
        ]
    return messages


def sensor_data(
    device_id: str, timestamp: str, value: float, unit: str | None, level: Level, hour: WindowStats | None
) -> SensorData:
    """`sensor-data` for one reading, with the last hour's statistics."""
    return SensorData(
        device_id=device_id,
        timestamp=timestamp,
        data=SensorValue(value=value, unit=unit, status=level),
        stats=SensorStats(
            avg=hour.avg if hour else None,
            trend=hour.trend if hour else None,
            min=hour.min if hour else None,
            max=hour.max if hour else None,
        ),
    )
