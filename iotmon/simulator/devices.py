"""What a simulated device is, and the reading it sends.

The five seed devices mirror `schema/003_seed_devices.sql` (a test keeps them equal), so
the simulator's thresholds are the ones the alert rules are configured with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    device_id: str
    sensor_type: str
    unit: str
    location: str | None
    normal_min: float
    normal_max: float
    alert_min: float | None
    alert_max: float | None
    period_s: float

    @property
    def span(self) -> float:
        return self.normal_max - self.normal_min


SEED_DEVICES: tuple[DeviceProfile, ...] = (
    DeviceProfile("device-001", "temperature", "celsius", "assembly-line-1", 20, 80, 15, 85, 2.0),
    DeviceProfile("device-002", "pressure", "psi", "assembly-line-1", 10, 50, 5, 55, 3.0),
    DeviceProfile("device-003", "vibration", "hz", "assembly-line-2", 0, 100, None, 120, 1.0),
    DeviceProfile("device-004", "production", "units/hour", "packaging-line-1", 100, 500, 50, None, 5.0),
    DeviceProfile("device-005", "quality", "percentage", "quality-control-1", 85, 100, 80, None, 4.0),
)


def format_timestamp(at: datetime, timespec: str = "milliseconds") -> str:
    """RFC 3339 in UTC with a `Z`, as the reading schema wants (`at` must be aware)."""
    return at.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def make_reading(profile: DeviceProfile, value: float, at: datetime, timespec: str = "milliseconds") -> dict[str, Any]:
    """A reading with exactly the fields of schema/events/reading.schema.json."""
    return {
        "deviceId": profile.device_id,
        "timestamp": format_timestamp(at, timespec),
        "sensorType": profile.sensor_type,
        "value": round(value, 2),
        "unit": profile.unit,
        "location": profile.location,
        "status": "active",
    }
