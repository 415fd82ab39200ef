"""The service's own health (GET /api/health, for probes) and the system at a glance (GET /api/status)."""

from __future__ import annotations

import contextlib
import platform
import time
from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from iotmon import __version__
from iotmon.core.contracts.analytics import AlertOverview
from iotmon.core.contracts.system import DeviceStatusCounts, Health, HealthFigures, Probe, Status, Versions
from iotmon.service.context import ServiceContext
from iotmon.service.health import dependencies, overall, statuses
from iotmon.service.openapi import Reply, documented
from iotmon.service.queries import analytics, devices
from iotmon.service.responses import JSONResponse, now_iso, ok


@documented(
    responses={
        200: Reply("Healthy, or degraded (Redis or the transport down).", body=Health),
        503: Reply("Unhealthy: the database is down.", body=Health),
    },
)
async def health(request: Request) -> JSONResponse:
    """Health of the service and its dependencies (never rate-limited)."""
    context: ServiceContext = request.app.state.context
    found = await dependencies(context)
    answer = Health(
        status=overall(found),
        timestamp=now_iso(),
        version=__version__ if _is_admin(request) else None,
        dependencies=found,
        metrics=HealthFigures(
            uptime=round(time.monotonic() - context.started_at),
            requests_per_minute=context.stats.per_minute(),
            error_rate=context.stats.error_rate(),
        ),
    )
    return JSONResponse(answer, status_code=503 if answer.status == "unhealthy" else 200)


@documented(
    responses={
        200: Reply(
            "Health summary, devices online/offline, open alerts, dead letters waiting, uptime, versions.", data=Status
        )
    }
)
async def status(request: Request) -> JSONResponse:
    """The system at a glance: health summary, devices online/offline, open alerts, dead letters, versions."""
    context: ServiceContext = request.app.state.context
    found = await dependencies(context)
    now = datetime.now(UTC)
    versions = Versions(iotmon=__version__, python=platform.python_version(), postgres=None, redis=None)
    counts: DeviceStatusCounts | None = None
    alerts: AlertOverview | None = None
    # A dependency the checks found down is not asked again: the health summary says so.
    if found.database.status == "healthy":
        with contextlib.suppress(Exception):  # it went down since
            async with context.db.connection() as conn:
                states = [devices.status(row, now) for row in await devices.rows(conn)]
                counts = DeviceStatusCounts(
                    total=len(states),
                    online=states.count("active"),
                    offline=states.count("offline"),
                    inactive=states.count("inactive"),
                    maintenance=states.count("maintenance"),
                )
                versions.postgres = (await (await conn.execute("SHOW server_version")).fetchone() or (None,))[0]
                alerts = await analytics.alert_overview(conn, now - timedelta(hours=24))
    if found.redis.status == "healthy":
        with contextlib.suppress(Exception):
            versions.redis = (await context.redis.info("server")).get("redis_version")
    answer = Status(
        status=overall(found),
        services=statuses(found),
        dependencies=found,
        devices=counts,
        alerts=alerts,
        uptime_seconds=round(time.monotonic() - context.started_at),
        transport=context.transport_name,
        versions=versions if _is_admin(request) else None,  # (which software runs helps an attacker pick exploits)
        dead_letters=await context.dead_letters.summary(),
    )
    return ok(answer)


@documented(responses={200: Reply("The service is running.", body=Probe)})
async def liveness(_request: Request) -> JSONResponse:
    """Liveness probe: the process answers. Open to everyone, and says nothing more than "up"."""
    return JSONResponse(Probe(status="up"))


@documented(
    responses={
        200: Reply("Ready: the database answers.", body=Probe),
        503: Reply("Not ready: the database does not answer.", body=Probe),
    }
)
async def readiness(request: Request) -> JSONResponse:
    """Readiness probe: the service can answer requests (its database answers). Open to everyone, and says
    nothing more than up or down."""
    context: ServiceContext = request.app.state.context
    found = await dependencies(context)
    up = found.database.status == "healthy"
    return JSONResponse(Probe(status="up" if up else "down"), status_code=200 if up else 503)


def _is_admin(request: Request) -> bool:
    user = request.state.user
    return user is not None and user.can("admin")
