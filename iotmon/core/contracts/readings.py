"""Readings: what a device sends (`io.iotmon.reading.v1`), a gateway's batch, and a refused reading."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from iotmon.core.contracts.common import Body, Contract, DeviceId, Line, MetaFields, Value

ReadingStatus = Literal["active", "inactive", "maintenance", "error"]
MAX_BATCH = 10_000


RFC3339 = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])(?!\n)$"
)  # an upper-case T, a UTC offset (Z or ±hh:mm), at most microsecond precision


class Reading(Body):
    """One reading from one device. CloudEvent type io.iotmon.reading.v1, data content type
    application/json, partition key = deviceId."""

    device_id: DeviceId
    timestamp: Annotated[
        str,
        msgspec.Meta(
            pattern=RFC3339,
            description="When the value was measured: RFC 3339 with an upper-case T, a UTC offset (Z or ±hh:mm) "
            "and at most microsecond precision.",
            extra_json_schema={"format": "date-time"},
        ),
    ]
    sensor_type: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[a-z][a-z0-9_]{0,49}(?!\n)$",
            description="What is measured, e.g. temperature, pressure, vibration, production, quality.",
        ),
    ]
    value: Annotated[Value, msgspec.Meta(description="The measured value; stored as DECIMAL(10,2).")]
    unit: Annotated[
        Line,
        msgspec.Meta(
            min_length=1,
            max_length=20,
            description="Unit of the value, e.g. celsius, psi, hz, units/hour, percentage.",
        ),
    ]
    location: Annotated[Line, msgspec.Meta(max_length=100, description="Where the device is.")] | None = None
    status: Annotated[ReadingStatus, msgspec.Meta(description="The device's own status when it sent the reading.")] = (
        "active"
    )


class ReadingBatch(Body):
    """Many readings in one event, as a gateway sends them. CloudEvent type io.iotmon.reading.batch.v1,
    data content type application/json."""

    readings: Annotated[list[Reading], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class RejectedEvent(Contract):
    """The attributes of the event a refused reading came in."""

    id: str | None
    type: str | None
    source: str | None
    subject: str | None
    time: str | None


class RejectedReading(Contract):
    """A reading ingest refused, on `sensors-data.dlq`. CloudEvent type io.iotmon.reading.rejected.v1."""

    reason: Annotated[str, msgspec.Meta(description="Why it was refused.")]
    original: Annotated[Any, msgspec.Meta(description="What was sent (cut at 256 KiB).")]
    index: Annotated[int, msgspec.Meta(ge=0, description="Its position in a batch.")] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    event: RejectedEvent | msgspec.UnsetType = msgspec.UNSET
    origin: (
        Annotated[
            str, msgspec.Meta(description="Where it came from outside the system: the MQTT topic, the OPC UA node.")
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class Accepted(Contract):
    accepted: Annotated[int, msgspec.Meta(description="Readings queued on sensors-data.")]


class AcceptedMeta(MetaFields):
    topic: str
    events: int
