"""The service's health (GET /api/health, not in the envelope) and status (GET /api/status)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from iotmon.core.contracts.analytics import AlertOverview
from iotmon.core.contracts.common import Contract, DependencyStatus, HealthStatus, Timestamp


class Dependency(Contract):
    status: DependencyStatus
    response_time: Annotated[float, msgspec.Meta(description="Milliseconds the check took.")]
    error: str | msgspec.UnsetType = msgspec.UNSET
    transport: (
        Annotated[str, msgspec.Meta(description="kafka, or postgres (the embedded run's event log).")]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class Dependencies(Contract):
    database: Dependency
    redis: Dependency
    kafka: Dependency
    simulator: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class HealthFigures(Contract):
    uptime: int
    requests_per_minute: int
    error_rate: float


class Health(Contract):
    """Healthy; degraded when Redis or the event transport is down; unhealthy when the database is."""

    status: HealthStatus
    timestamp: Timestamp
    version: Annotated[str | None, msgspec.Meta(description="iotmon's version: shown to admins only (null otherwise).")]
    dependencies: Dependencies
    metrics: HealthFigures


class DeviceStatusCounts(Contract):
    total: int
    online: int
    offline: int
    inactive: int
    maintenance: int


class Probe(Contract):
    """GET /healthz and /readyz: up or down, nothing more (they stay open when reading needs a login)."""

    status: Literal["up", "down"]


class Versions(Contract):
    iotmon: str
    python: str
    postgres: str | None
    redis: str | None


DeadLetterKind = Literal["unavailable", "refused", "rejected", "invalid"]
DEAD_LETTER_KINDS: dict[str, str] = {
    "unavailable": "no answer or a 5xx through every retry (an outage): `iotmon dlq replay` sends it again",
    "refused": "a function refused it (a 4xx): `iotmon dlq replay --all` sends it again, once the cause is fixed",
    "rejected": "a reading ingest refused: bad input, kept as a report, never replayed",
    "invalid": "a record with broken CloudEvent attributes: kept as a report, never replayed",
}


class DeadLetterGroup(Contract):
    """Dead letters of one kind and reason, on one dead-letter topic."""

    topic: str
    kind: Annotated[
        DeadLetterKind, msgspec.Meta(description=" ".join(f"{k}: {v}." for k, v in DEAD_LETTER_KINDS.items()))
    ]
    reason: str
    count: int


class DeadLetters(Contract):
    """The dead letters `iotmon dlq replay` has not handled yet."""

    waiting: Annotated[int, msgspec.Meta(description="Letters on every dead-letter topic not yet replayed.")]
    groups: Annotated[
        list[DeadLetterGroup], msgspec.Meta(description="By kind and reason, of the oldest 1,000 per topic.")
    ]


class Status(Contract):
    """The system at a glance."""

    status: HealthStatus
    services: dict[str, DependencyStatus | str]
    dependencies: Dependencies
    devices: DeviceStatusCounts | None
    alerts: AlertOverview | None
    uptime_seconds: int
    transport: str
    versions: Annotated[
        Versions | None, msgspec.Meta(description="The software's versions: shown to admins only (null otherwise).")
    ]
    dead_letters: Annotated[
        DeadLetters | None, msgspec.Meta(description="Null when the event transport cannot be read.")
    ] = None
