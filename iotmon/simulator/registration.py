"""The simulated devices in the registry, before the simulator sends as them.

Load and replay send straight onto `sensors-data`, where readings of devices that are not registered are
dead-lettered; so they register their devices first, all at once in one statement, in PostgreSQL directly.
The API registers one device per request, which would be a thousand round trips for a load of a thousand
devices, and the simulator is a part of the system, as trusted as the functions are.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from iotmon.adapters.postgres import registry
from iotmon.simulator.devices import DeviceProfile
from iotmon.simulator.replay import ColumnTarget

LOCATION = "simulated"  # where a simulated device without a location of its own is


def as_new(profile: DeviceProfile) -> registry.NewDevice:
    return registry.NewDevice(
        device_id=profile.device_id,
        device_type=profile.sensor_type,
        unit=profile.unit,
        location=profile.location or LOCATION,
        normal_min=profile.normal_min,
        normal_max=profile.normal_max,
        alert_min=profile.alert_min,
        alert_max=profile.alert_max,
        update_period_ms=round(profile.period_s * 1000),
    )


def register_devices(database_url: str, profiles: Sequence[DeviceProfile]) -> list[str]:
    """Register the devices that are not registered yet (those that are keep their configuration); the ids
    registered now."""
    with psycopg.connect(database_url) as conn:
        return registry.register(conn, [as_new(profile) for profile in profiles])


def register_targets(database_url: str, targets: Sequence[ColumnTarget]) -> list[str]:
    """As `register_devices`, for the devices a replay sends as (no limits: the recording's own)."""
    new = [registry.NewDevice(t.device_id, t.sensor_type, t.unit, t.location or LOCATION) for t in targets]
    with psycopg.connect(database_url) as conn:
        return registry.register(conn, new)
