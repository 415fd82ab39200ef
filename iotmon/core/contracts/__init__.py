"""The contracts: one typed definition (a msgspec Struct) per event, request body, answer and live message.

From them come the validation of what arrives (msgspec, `validation`), the
OpenAPI components of the REST API, the JSON Schemas in schema/events/ and the
dashboard's TypeScript types and limits (`iotmon generate`; a test fails when a
generated file is stale). Modules by subject: readings, alerts, devices,
analytics, fleet, backtest, system, users, keys (gateway API keys), live (Socket.IO),
envelopes, presence (devices the plant reports offline or back).
"""

from __future__ import annotations

import msgspec

from iotmon.core.contracts import (
    alerts,
    analytics,
    backtest,
    devices,
    envelopes,
    fleet,
    keys,
    live,
    presence,
    readings,
    system,
    users,
)

# The event data on Kafka, by the name of its file in schema/events/.
EVENTS: dict[str, type[msgspec.Struct]] = {
    "reading": readings.Reading,
    "reading-batch": readings.ReadingBatch,
    "reading-rejected": readings.RejectedReading,
    "alert": alerts.AlertChange,
    "device-presence": presence.DevicePresence,
}


def all_contracts() -> list[type[msgspec.Struct]]:
    """Every contract defined in the modules above, in a stable order."""
    found: list[type[msgspec.Struct]] = []
    for module in (
        readings,
        alerts,
        devices,
        backtest,
        analytics,
        fleet,
        system,
        users,
        keys,
        live,
        envelopes,
        presence,
    ):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, msgspec.Struct)
                and value.__module__ == module.__name__
                and value not in found
            ):
                found.append(value)
    return found
