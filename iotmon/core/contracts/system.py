"""The service's health (GET /api/health, not in the envelope) and status (GET /api/status)."""

from __future__ import annotations

from typing import Annotated, Any

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
    version: str
    dependencies: Dependencies
    metrics: HealthFigures


class DeviceStatusCounts(Contract):
    total: int
    online: int
    offline: int
    inactive: int
    maintenance: int


class Versions(Contract):
    iotmon: str
    python: str
    postgres: str | None
    redis: str | None


class Status(Contract):
    """The system at a glance."""

    status: HealthStatus
    services: dict[str, DependencyStatus | str]
    dependencies: Dependencies
    devices: DeviceStatusCounts | None
    alerts: AlertOverview | None
    uptime_seconds: int
    transport: str
    versions: Versions
