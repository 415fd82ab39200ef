"""Devices: registration, configuration, what the API shows of a device, its live value, statistics and history."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.alerts import Severity
from iotmon.core.contracts.common import (
    DECIMAL_LIMIT,
    AlertId,
    Body,
    Contract,
    DeviceId,
    MetaFields,
    Timestamp,
    Trend,
)

WEEK_S = 7 * 86_400
DeviceStatus = Annotated[
    Literal["active", "inactive", "maintenance", "offline"],
    msgspec.Meta(description="offline: active but silent for longer than its offline timeout."),
]
ConfiguredStatus = Literal["active", "inactive", "maintenance"]
Level = Annotated[
    Literal["normal", "warning", "critical"],
    msgspec.Meta(description="critical beyond an alert limit, warning outside the normal range, else normal."),
]
Bound = Annotated[float, msgspec.Meta(ge=-DECIMAL_LIMIT, le=DECIMAL_LIMIT)]
Seconds = Annotated[int, msgspec.Meta(ge=1, le=WEEK_S)]
Label = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=100, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$", description="Not blank, no NUL."
    ),
]


class DeviceConfig(Contract):
    """A device's limits and rule settings."""

    normal_min: float | None
    normal_max: float | None
    alert_min: float | None
    alert_max: float | None
    update_period_ms: int | None
    offline_timeout_s: int
    anomaly_sensitivity: float
    trend_horizon_s: int
    trend_window_s: Annotated[
        int | None, msgspec.Meta(description="Seconds of readings the trend line follows; null: 60 reporting periods.")
    ]
    breach_count: Annotated[int, msgspec.Meta(description="Breaching readings in a row before an alert (1: at once).")]
    breach_for_s: Annotated[int, msgspec.Meta(description="Seconds a breach must last before an alert (0: at once).")]
    clear_after_s: int
    hysteresis_pct: float
    physical_min: Annotated[
        float | None, msgspec.Meta(description="The lowest value the sensor can give (null: what its unit implies).")
    ]
    physical_max: Annotated[
        float | None, msgspec.Meta(description="The highest value the sensor can give (null: what its unit implies).")
    ]


class ConfigUpdate(Body):
    """The body of PUT /api/devices/{device_id}/config: any of the fields. The limits that are set must keep
    alertMin < normalMin < normalMax < alertMax."""

    normal_min: Bound | msgspec.UnsetType | None = msgspec.UNSET
    normal_max: Bound | msgspec.UnsetType | None = msgspec.UNSET
    alert_min: Bound | msgspec.UnsetType | None = msgspec.UNSET
    alert_max: Bound | msgspec.UnsetType | None = msgspec.UNSET
    offline_timeout_s: Seconds | msgspec.UnsetType = msgspec.UNSET
    anomaly_sensitivity: Annotated[float, msgspec.Meta(gt=0, le=100)] | msgspec.UnsetType = msgspec.UNSET
    trend_horizon_s: Seconds | msgspec.UnsetType = msgspec.UNSET
    trend_window_s: Seconds | msgspec.UnsetType | None = msgspec.UNSET
    breach_count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | msgspec.UnsetType = msgspec.UNSET
    breach_for_s: Annotated[int, msgspec.Meta(ge=0, le=WEEK_S)] | msgspec.UnsetType = msgspec.UNSET
    clear_after_s: Annotated[int, msgspec.Meta(ge=0, le=WEEK_S)] | msgspec.UnsetType = msgspec.UNSET
    hysteresis_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] | msgspec.UnsetType = msgspec.UNSET
    physical_min: Bound | msgspec.UnsetType | None = msgspec.UNSET
    physical_max: Bound | msgspec.UnsetType | None = msgspec.UNSET
    update_period_ms: Annotated[int, msgspec.Meta(ge=1, le=86400000)] | msgspec.UnsetType | None = msgspec.UNSET
    name: Label | msgspec.UnsetType | None = msgspec.UNSET
    location: Label | msgspec.UnsetType = msgspec.UNSET
    status: ConfiguredStatus | msgspec.UnsetType = msgspec.UNSET


DeviceType = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z][a-z0-9_]{0,49}(?!\n)$",
        description="What the device measures, as its readings' sensorType: temperature, pressure...",
    ),
]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=20, description="Unit of its values, e.g. celsius.")]


class DeviceCreate(Body):
    """The body of POST /api/devices: a device to register. `config` (the body of PUT
    /api/devices/{device_id}/config) sets its limits and rule settings before its first reading."""

    device_id: DeviceId
    type: DeviceType
    unit: Unit
    location: Label
    name: Label | None = None
    config: ConfigUpdate | msgspec.UnsetType = msgspec.UNSET


class DeviceUpdate(Body):
    """The body of PUT /api/devices/{device_id}: any of the fields; `config` as in POST /api/devices."""

    type: DeviceType | msgspec.UnsetType = msgspec.UNSET
    unit: Unit | msgspec.UnsetType = msgspec.UNSET
    location: Label | msgspec.UnsetType = msgspec.UNSET
    name: Label | msgspec.UnsetType | None = msgspec.UNSET
    config: ConfigUpdate | msgspec.UnsetType = msgspec.UNSET


class DeviceDecommissioned(Contract):
    """A device taken out of service: its readings are refused from now on; its history and alerts stay."""

    device_id: DeviceId
    decommissioned_at: Timestamp
    resolved_alerts: Annotated[list[AlertId], msgspec.Meta(description="Its open alerts, now resolved.")]


class WindowStats(Contract):
    """A window's statistics (`device:<id>:stats:<1h|24h>` in Redis)."""

    avg: float | None
    min: float | None
    max: float | None
    count: int
    trend: Trend
    std: float | None
    median: float | None
    slope: Annotated[float | None, msgspec.Meta(description="Least-squares slope, units per second.")]
    window_start: Timestamp
    window_end: Timestamp
    updated_at: Timestamp


class LiveValue(Contract):
    """A device's current value (`device:<id>:current` in Redis)."""

    value: float
    timestamp: str
    status: Level
    unit: str | None


class LastReading(Contract):
    value: float
    timestamp: Timestamp
    status: (
        Annotated[str, msgspec.Meta(description="The device's own status with that reading.")] | msgspec.UnsetType
    ) = msgspec.UNSET


class DeviceStats(Contract):
    """The 24 h average and trend; the device's page also gets both windows' statistics."""

    avg24h: float | None
    trend: Trend | None
    hour: WindowStats | msgspec.UnsetType | None = msgspec.field(default=msgspec.UNSET, name="1h")
    day: WindowStats | msgspec.UnsetType | None = msgspec.field(default=msgspec.UNSET, name="24h")


class DeviceSummary(Contract):
    """Who a device is, its status and its worst open alert."""

    device_id: DeviceId
    name: str | None
    type: str
    location: str
    unit: str | None
    status: DeviceStatus
    alert_status: Annotated[Severity | Literal["normal"], msgspec.Meta(description="Its worst open alert.")]


class Device(DeviceSummary):
    """A device in GET /api/devices."""

    last_reading: LastReading | None
    stats: DeviceStats
    config: DeviceConfig


class DeviceDetails(Device):
    """A device on its own page."""

    configured_status: ConfiguredStatus
    created_at: Timestamp | None
    updated_at: Timestamp | None


class DeviceList(Contract):
    devices: list[Device]


class DeviceListMeta(MetaFields):
    """How many devices match the filters, how many of them are active, and which page this is."""

    total_devices: int
    active_devices: int
    count: int
    limit: int
    offset: int


class DeviceAnswer(Contract):
    device: DeviceDetails


class Current(Contract):
    """A device's current reading: the live value, else the newest stored one."""

    device_id: DeviceId
    current: LiveValue | None
    device_status: DeviceStatus


class CurrentMeta(MetaFields):
    source: Literal["redis", "database"] | None


class HistoryPoint(Contract):
    """A raw reading (with unit and status) or a bucket's mean (with min, max and count)."""

    timestamp: Timestamp
    value: float | None
    unit: str | msgspec.UnsetType = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET
    min: float | msgspec.UnsetType | None = msgspec.UNSET
    max: float | msgspec.UnsetType | None = msgspec.UNSET
    count: int | msgspec.UnsetType | None = msgspec.UNSET


class History(Contract):
    device_id: DeviceId
    readings: Annotated[list[HistoryPoint], msgspec.Meta(description="Oldest first.")]


class HistoryMeta(MetaFields):
    count: int
    from_: Timestamp = msgspec.field(name="from")
    to: Timestamp
    limit: int
    truncated: Annotated[bool, msgspec.Meta(description="More points than the limit: the newest are shown.")]
    resolution: str | msgspec.UnsetType = msgspec.UNSET
    requested_resolution: str | msgspec.UnsetType = msgspec.UNSET


class ConfigChanged(Contract):
    device_id: DeviceId
    name: str | None
    location: str
    status: ConfiguredStatus
    config: DeviceConfig
    updated_at: Timestamp | None


class ConfigChangedMeta(MetaFields):
    updated: Annotated[list[str], msgspec.Meta(description="The fields set.")]


class ImportProblem(Contract):
    """A row of an import that was refused, and why."""

    row: Annotated[int, msgspec.Meta(ge=1, description="The data row, counting from 1 (the header row not counted).")]
    reason: str


class ImportSummary(Contract):
    """What a history import did: good rows are stored (once), bad rows are counted and the first ones named."""

    device_id: DeviceId
    rows_read: Annotated[int, msgspec.Meta(ge=0, description="Data rows in the file.")]
    imported: Annotated[int, msgspec.Meta(ge=0, description="Readings stored now.")]
    duplicates: Annotated[
        int, msgspec.Meta(ge=0, description="Good rows whose (device, timestamp) was already stored: skipped.")
    ]
    rejected: Annotated[int, msgspec.Meta(ge=0, description="Rows refused (bad time or value).")]
    from_: Timestamp | None = msgspec.field(name="from")
    to: Timestamp | None
    problems: Annotated[list[ImportProblem], msgspec.Meta(description="The first refused rows (at most 20).")]
