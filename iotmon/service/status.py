"""GET /api/status: the system at a glance (health summary, devices online/offline, open alerts, versions)."""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from iotmon import __version__
from iotmon.service.analytics import alert_overview
from iotmon.service.context import ServiceContext
from iotmon.service.devices import _status, device_rows
from iotmon.service.health import dependencies, overall
from iotmon.service.openapi import Reply, documented, obj
from iotmon.service.responses import JSONResponse, ok


@documented(
    responses={
        200: Reply(
            "Health summary, devices online/offline, open alerts, uptime and versions.",
            data=obj(
                {"status": {"enum": ["healthy", "degraded", "unhealthy"]}, "versions": {"type": "object"}},
                ["status", "versions"],
            ),
        )
    },
)
async def status(request: Request) -> JSONResponse:
    """The system at a glance: health summary, devices online/offline, open alerts, versions."""
    context: ServiceContext = request.app.state.context
    found = await dependencies(context)
    now = datetime.now(UTC)
    versions = {"iotmon": __version__, "python": platform.python_version(), "postgres": None, "redis": None}
    devices: dict[str, int] = {}
    alerts = None
    try:
        rows = await device_rows(context)
        states = [_status(row, now) for row in rows]
        devices = {
            "total": len(rows),
            "online": states.count("active"),
            "offline": states.count("offline"),
            "inactive": states.count("inactive"),
            "maintenance": states.count("maintenance"),
        }
        async with context.db.connection() as conn:
            versions["postgres"] = (await (await conn.execute("SHOW server_version")).fetchone())[0]
            alerts = await alert_overview(conn, now - timedelta(hours=24))
    except Exception:  # the database is down: the health summary says so
        pass
    try:
        versions["redis"] = (await context.redis.info("server")).get("redis_version")
    except Exception:
        pass
    data = {
        "status": overall(found),
        "services": {name: dep["status"] for name, dep in found.items() if isinstance(dep, dict) and "status" in dep},
        "dependencies": found,
        "devices": devices,
        "alerts": alerts,
        "uptimeSeconds": round(time.monotonic() - context.started_at),
        "transport": context.transport_name,
        "versions": versions,
    }
    return ok(data)
