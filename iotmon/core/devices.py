"""What is true of a device at a given moment (pure): its status, and whether its limits are in order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from iotmon.core.contracts.devices import ConfiguredStatus, DeviceStatus

LIMITS = ("alertMin", "normalMin", "normalMax", "alertMax")  # the order the limits must keep, low to high
LIMIT_NAMES = {"normal_min": "normalMin", "normal_max": "normalMax", "alert_min": "alertMin", "alert_max": "alertMax"}


def device_status(
    configured: ConfiguredStatus, last_reading: datetime | None, offline_timeout_s: float, now: datetime
) -> DeviceStatus:
    """Its configured status unless active; active when it has sent data within its offline timeout, else offline."""
    if configured != "active":
        return configured
    if last_reading is None or now - last_reading > timedelta(seconds=offline_timeout_s):
        return "offline"
    return "active"


def check_limits(limits: Mapping[str, float | None]) -> list[dict[str, str]]:
    """alertMin < normalMin < normalMax < alertMax, for the limits that are set: a problem per limit out of order."""
    given = [(name, value) for name in LIMITS if (value := limits.get(name)) is not None]
    problems = []
    for i, (low_name, low) in enumerate(given):
        for high_name, high in given[i + 1 :]:
            if not low < high:
                problems.append(
                    {"field": high_name, "reason": f"'{low_name}' ({low}) must be below '{high_name}' ({high})"}
                )
    return problems


def unregistered(device_id: str, decommissioned_at: datetime | None = None) -> str:
    """Why a reading of a device that is not in service is refused, and what to do about it."""
    if decommissioned_at is None:
        return f"unknown device {device_id!r}: register it with POST /api/devices"
    when = decommissioned_at.isoformat(timespec="seconds")
    return f"device {device_id!r} was decommissioned at {when}: register it again with POST /api/devices"
