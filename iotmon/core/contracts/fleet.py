"""The fleet: every device's state at a glance, grouped by location, for the overview of thousands of devices."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.alerts import Severity
from iotmon.core.contracts.analytics import Crossing
from iotmon.core.contracts.common import Contract, DeviceId, MetaFields, Timestamp, Trend
from iotmon.core.contracts.devices import DeviceStatus, Level

FleetState = Annotated[
    Literal["normal", "warning", "critical", "offline"],
    msgspec.Meta(
        description="offline: silent beyond its offline timeout (or never heard from); else the level of its latest"
        " value: critical beyond an alert limit, warning outside the normal range, else normal."
    ),
]
AlertStatus = Annotated[Severity | Literal["normal"], msgspec.Meta(description="Its worst open alert.")]


class FleetCounts(Contract):
    """How many devices are in each state, and the worst of them (critical, offline, warning, normal)."""

    total: int
    normal: int
    warning: int
    critical: int
    offline: int
    worst: FleetState


class FleetGroup(FleetCounts):
    """The devices at one location (a line, a hall)."""

    location: str


class FleetDevice(Contract):
    """One device of the fleet: who it is, its state and latest value."""

    device_id: DeviceId
    name: str | None
    type: str
    location: str
    unit: str | None
    status: DeviceStatus
    state: FleetState
    alert_status: AlertStatus
    value: float | None
    level: Annotated[Level | None, msgspec.Meta(description="The latest value's level (null: no value).")]
    timestamp: Timestamp | None


class Fleet(Contract):
    """GET /api/fleet: the fleet's counts, its groups, the filter choices and a page of the devices that match."""

    totals: Annotated[FleetCounts, msgspec.Meta(description="Every device in service.")]
    groups: Annotated[list[FleetGroup], msgspec.Meta(description="Every location, worst first, then by name.")]
    types: Annotated[list[str], msgspec.Meta(description="The device types in service, for a filter.")]
    devices: Annotated[list[FleetDevice], msgspec.Meta(description="The page of the devices that match.")]


class FleetMeta(MetaFields):
    matched: Annotated[int, msgspec.Meta(description="Devices that match the search and filters.")]
    count: int
    limit: int
    offset: int
    computed_at: Annotated[Timestamp, msgspec.Meta(description="When the states were taken (at most 1 s old).")]


class FleetChange(Contract):
    """A device whose state or worst open alert changed."""

    device_id: DeviceId
    location: str
    state: FleetState
    alert_status: AlertStatus
    value: float | None
    timestamp: Timestamp | None


class FleetStatus(Contract):
    """`fleet-status`, to room `fleet` at most once a second while anything changed, and on subscribing: the
    counts and the devices that changed since the last one. `resync`: too many changed at once to list; fetch
    GET /api/fleet again."""

    timestamp: Timestamp
    totals: FleetCounts
    groups: list[FleetGroup]
    changes: list[FleetChange]
    resync: bool = False


class FleetTrend(Contract):
    """One device in the fleet's analytics: its 24 h window, trend, forecast and hourly means."""

    device_id: DeviceId
    type: str
    location: str
    unit: str | None
    normal_min: float | None
    normal_max: float | None
    avg: float | None
    min: float | None
    max: float | None
    trend: Trend | None
    slope_per_hour: float | None
    value: Annotated[float | None, msgspec.Meta(description="The latest value.")]
    forecast60: Annotated[float | None, msgspec.Meta(description="The value the trend reaches in 60 minutes.")]
    time_to_threshold: Crossing | None
    hourly: Annotated[list[float | None], msgspec.Meta(description="The mean of each hour of `hours` (null: none).")]


class FleetAnalytics(Contract):
    """GET /api/analytics/fleet: the devices' trends and hourly means in one answer."""

    hours: Annotated[list[Timestamp], msgspec.Meta(description="The hours' starts, oldest first.")]
    devices: list[FleetTrend]


class FleetAnalyticsMeta(MetaFields):
    matched: int
    count: int
    limit: int
    sort: Literal["risk", "id"]
    computed_at: Annotated[Timestamp, msgspec.Meta(description="When the states were taken (at most 1 s old).")]
