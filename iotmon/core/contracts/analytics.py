"""Metrics and analytics: the dashboard's summary, system metrics, a device's trend, the daily summary."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.contracts.common import Contract, DeviceId, HealthStatus, MetaFields, Timestamp, Trend
from iotmon.core.contracts.devices import DeviceSummary


class BySeverity(Contract):
    critical: int
    high: int
    medium: int
    low: int


class AlertOverview(Contract):
    """Open alerts by severity; MTTA and MTTR (seconds) of the alerts triggered in the last 24 h."""

    open: int
    by_severity: BySeverity
    triggered24h: int
    acknowledged24h: int
    resolved24h: int
    mtta_seconds_24h: float | None = msgspec.field(name="mttaSeconds24h")
    mttr_seconds_24h: float | None = msgspec.field(name="mttrSeconds24h")


class DashboardDevice(DeviceSummary):
    value: float | None
    reading_status: Annotated[str | None, msgspec.Meta(description="The live level, else the stored status.")]
    timestamp: str | None


class DeviceCounts(Contract):
    total: int
    online: int
    offline: int
    items: list[DashboardDevice]


class ReadingCounts(Contract):
    last_minute: int
    per_minute: int
    data_points_last_hour: int | None


class Dashboard(Contract):
    """What the overview page shows, in one answer."""

    devices: DeviceCounts
    readings: ReadingCounts
    alerts: AlertOverview
    system_health: HealthStatus | None


class SystemMetricsDoc(Contract):
    """The system's figures (`system:metrics` in Redis), written by aggregate."""

    total_devices: int
    active_devices: int
    active_alerts_count: int
    data_points_last_hour: int
    system_health: HealthStatus


class ProcessFigures(Contract):
    uptime_seconds: int
    requests_per_minute: int
    error_rate: float
    transport: str


class DatabaseFigures(Contract):
    size_bytes: int
    connections: int


class RedisFigures(Contract):
    """Redis's memory and keys, or why they could not be read."""

    used_memory_bytes: int | msgspec.UnsetType = msgspec.UNSET
    used_memory_human: str | msgspec.UnsetType = msgspec.UNSET
    peak_memory_bytes: int | msgspec.UnsetType = msgspec.UNSET
    keys: int | msgspec.UnsetType = msgspec.UNSET
    error: str | msgspec.UnsetType = msgspec.UNSET


class SystemMetrics(Contract):
    metrics: Annotated[SystemMetricsDoc | None, msgspec.Meta(description="null until aggregate has written them.")]
    process: ProcessFigures
    database: DatabaseFigures
    redis: RedisFigures


class ForecastPoint(Contract):
    """The expected value then (flat when the trend is not significant) and its 95 % prediction interval, within
    the sensor's physical bounds."""

    minutes: int
    timestamp: Timestamp
    value: float
    low: float
    high: float


class Crossing(Contract):
    """When the regression line reaches an alert limit."""

    threshold: Literal["alertMin", "alertMax"]
    value: float
    seconds: float
    at: Timestamp


class Thresholds(Contract):
    alert_min: float | None
    alert_max: float | None


class ValueAt(Contract):
    value: float
    timestamp: Timestamp


class TrendAnalysis(Contract):
    """A device's least-squares trend over a window, its forecast and the time to an alert limit."""

    device_id: DeviceId
    window: Literal["1h", "24h", "7d"]
    count: int
    avg: float | None
    min: float | None
    max: float | None
    slope_per_second: float
    slope_per_hour: float
    trend: Trend | None
    last_reading: ValueAt | None
    forecast: Annotated[list[ForecastPoint], msgspec.Meta(description="At 15, 30 and 60 minutes.")]
    time_to_threshold: Crossing | None
    thresholds: Thresholds
    fitted_now: float | msgspec.UnsetType = msgspec.UNSET


class TrendMeta(MetaFields):
    source: Literal["readings", "hourly"]
    from_: Timestamp = msgspec.field(name="from")
    to: Timestamp


class ResponseTimes(Contract):
    mtta_seconds: float | None
    mttr_seconds: float | None


class SummaryDay(ResponseTimes):
    date: str
    readings: int
    avg: float | None
    min: float | None
    max: float | None
    alerts: Annotated[dict[str, int], msgspec.Meta(description="Alerts triggered that day, by type.")]
    alerts_total: int


class Totals(ResponseTimes):
    readings: int
    alerts: int


class DeviceSummaryDays(Contract):
    device_id: str
    days: list[SummaryDay]
    totals: Totals


class Summary(Contract):
    """Per device and UTC day: readings (from the hourly rollups) and alerts by type, with MTTA and MTTR."""

    from_: str = msgspec.field(name="from")
    to: str
    days: int
    devices: list[DeviceSummaryDays]
    overall: Totals


class SummaryMeta(MetaFields):
    days: int
    from_: Timestamp = msgspec.field(name="from")
