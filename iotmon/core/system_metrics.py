"""The system's figures (pure): devices, how many are sending, open alerts, readings in the last hour, health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from iotmon.core.contracts.analytics import SystemMetricsDoc
from iotmon.core.contracts.common import HealthStatus

DEFAULT_OFFLINE_S = 30.0
MINUTES_KEPT = 120  # minute counters older than this are dropped


@dataclass(frozen=True, slots=True)
class Watched:
    offline_timeout_s: float
    monitored: bool  # expected to send (its status is active)


def system_metrics(
    devices: Mapping[str, Watched],
    last_seen: Iterable[tuple[str, float]],
    open_alerts: int,
    readings_per_minute: Mapping[int, int],
    now_s: float,
) -> SystemMetricsDoc:
    """`last_seen`: (device, epoch s of its newest reading); `readings_per_minute`: minute number → new readings."""
    active = sum(
        1
        for device, last in last_seen
        if now_s - last <= (devices[device].offline_timeout_s if device in devices else DEFAULT_OFFLINE_S)
    )
    this_minute = int(now_s // 60)
    points = sum(count for minute, count in readings_per_minute.items() if minute > this_minute - 60)
    monitored = sum(1 for device in devices.values() if device.monitored)
    health: HealthStatus = "unhealthy" if devices and active == 0 else "degraded" if active < monitored else "healthy"
    return SystemMetricsDoc(
        total_devices=len(devices),
        active_devices=active,
        active_alerts_count=open_alerts,
        data_points_last_hour=points,
        system_health=health,
    )


def stale_minutes(readings_per_minute: Mapping[int, int], now_s: float) -> list[int]:
    """The minute counters no longer needed."""
    this_minute = int(now_s // 60)
    return [minute for minute in readings_per_minute if minute < this_minute - MINUTES_KEPT]
