"""The Socket.IO protocol's payloads: what the server emits, and what clients send to subscribe."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.contracts.analytics import SystemMetricsDoc
from iotmon.core.contracts.common import (
    Body,
    Contract,
    DependencyStatus,
    DeviceId,
    HealthStatus,
    Role,
    Timestamp,
    Trend,
)
from iotmon.core.contracts.devices import Level
from iotmon.core.contracts.system import DeadLetters


class SensorValue(Contract):
    value: float
    unit: str | None
    status: Level


class SensorStats(Contract):
    """The last hour's statistics."""

    avg: float | None
    trend: Trend | None
    min: float | None
    max: float | None


class SensorData(Contract):
    """`sensor-data`, to room device:<id>: a new reading of the device."""

    device_id: DeviceId
    timestamp: str
    data: SensorValue
    stats: SensorStats


class LiveAlert(AlertChange):
    """`alert-triggered` (any change but a resolve) or `alert-resolved`, to room `alerts`."""

    resolved_at: Timestamp | msgspec.UnsetType = msgspec.UNSET
    resolved_by: str | msgspec.UnsetType = msgspec.UNSET
    replayed: (
        Annotated[Literal[True], msgspec.Meta(description="Sent again after a reconnect.")] | msgspec.UnsetType
    ) = msgspec.UNSET


class DeviceStatusChange(Contract):
    """`device-status`, to room device:<id> and room `system`: offline, or online again."""

    device_id: DeviceId
    status: Literal["online", "offline"]
    timestamp: Timestamp
    alert_id: str


class DependencyState(Contract):
    status: DependencyStatus | str | None


class SystemStatus(Contract):
    """`system-status`, to room `system` every 5 s and on subscribing."""

    status: HealthStatus
    timestamp: Timestamp
    metrics: SystemMetricsDoc | None
    dependencies: dict[str, DependencyState]
    dead_letters: DeadLetters | None = None


class ConnectionStatus(Contract):
    """`connection-status`, to a client as it connects."""

    status: Literal["connected"]
    client_id: str
    timestamp: Timestamp
    username: str | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET


class LiveError(Contract):
    """`error`: a subscription the server refused, and why."""

    event: str
    message: str
    timestamp: Timestamp


class SubscribeDevice(Body):
    """`subscribe-device` / `unsubscribe-device` take this or the bare device id."""

    device_id: DeviceId


class SubscribeAlerts(Body):
    """`subscribe-alerts`: replay what was missed since a change's sequence, or after an alert id (or both: the
    next page of a replay after an alert id)."""

    # At most the largest integer JavaScript holds exactly (the dashboard keeps sequences as numbers).
    since: Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)] | None = None
    last_alert_id: str | None = None


class Ack(Contract):
    """The answer to a subscription."""

    success: bool
    device_id: str | msgspec.UnsetType = msgspec.UNSET
    replayed: int | msgspec.UnsetType = msgspec.UNSET
    more: (
        Annotated[
            Literal[True],
            msgspec.Meta(description="The replay sent one page; ask again with `since: nextSince` for the next."),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    next_since: (
        Annotated[int, msgspec.Meta(description="The sequence of the page's last change.")] | msgspec.UnsetType
    ) = msgspec.UNSET
    error: str | msgspec.UnsetType = msgspec.UNSET


class Pong(Contract):
    status: Literal["pong"]
    timestamp: Timestamp
