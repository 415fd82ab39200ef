"""Registering the devices a test sends readings of, in one place: through the API with an operator's client
(tests of the running system), or straight into the registry (tests that drive the functions without the
service). Readings of devices that are not registered are refused."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from iotmon.adapters.postgres import registry

TYPE, UNIT, LOCATION = "temperature", "celsius", "test-line"


def register(
    client: httpx.Client,
    device_id: str,
    sensor_type: str = TYPE,
    unit: str = UNIT,
    location: str = LOCATION,
    **fields: Any,
) -> dict[str, Any]:
    """POST /api/devices as the client (an operator); the registered device."""
    body = {"deviceId": device_id, "type": sensor_type, "unit": unit, "location": location, **fields}
    answer = client.post("/api/devices", json=body)
    assert answer.status_code == 201, answer.text
    device: dict[str, Any] = answer.json()["data"]["device"]
    return device


def register_in(
    database_url: str, *device_ids: str, sensor_type: str = TYPE, unit: str = UNIT, location: str = LOCATION
) -> None:
    """Register devices in the registry's table directly, in one statement (those registered stay as they are)."""
    with psycopg.connect(database_url) as conn:
        registry.register(conn, [registry.NewDevice(d, sensor_type, unit, location) for d in device_ids])
