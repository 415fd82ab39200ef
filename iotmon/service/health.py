"""GET /api/health in the seed's format (architecture §10.2)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from iotmon import __version__
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Reply, documented, obj
from iotmon.service.responses import JSONResponse, now_iso

CHECK_TIMEOUT = 2.0


async def _timed(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
        result: dict[str, Any] = {"status": "healthy"}
    except Exception as error:  # any failure of a dependency is reported, not raised
        result = {"status": "unhealthy", "error": f"{type(error).__name__}: {error}"[:300]}
    result["responseTime"] = round((time.perf_counter() - started) * 1000, 1)
    return result


async def dependencies(context: ServiceContext) -> dict[str, dict[str, Any]]:
    async def database() -> None:
        async with context.db.connection() as conn:
            await conn.execute("SELECT 1")

    async def transport() -> None:
        await run_in_threadpool(context.transport.check)

    database_status, redis_status, kafka_status = await asyncio.gather(
        _timed(database), _timed(context.redis.ping), _timed(transport)
    )
    kafka_status["transport"] = context.transport_name
    found = {"database": database_status, "redis": redis_status, "kafka": kafka_status}
    if context.simulator is not None:
        found["simulator"] = context.simulator.health()
    return found


def overall(found: dict[str, dict[str, Any]]) -> str:
    core = [found[name]["status"] for name in ("database", "redis", "kafka")]
    if all(status == "healthy" for status in core):
        return "healthy"
    return "unhealthy" if found["database"]["status"] != "healthy" else "degraded"


_DEPENDENCY = obj({"status": {"enum": ["healthy", "unhealthy"]}, "responseTime": {"type": "number"}}, ["status"])
HEALTH_SCHEMA = obj(
    {
        "status": {"enum": ["healthy", "degraded", "unhealthy"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "version": {"type": "string"},
        "dependencies": obj(
            {"database": _DEPENDENCY, "redis": _DEPENDENCY, "kafka": _DEPENDENCY}, ["database", "redis", "kafka"]
        ),
        "metrics": obj(
            {"uptime": {"type": "number"}, "requestsPerMinute": {"type": "number"}, "errorRate": {"type": "number"}}
        ),
    },
    ["status", "timestamp", "version", "dependencies", "metrics"],
    description="The seed's health format (architecture §10.2), not the envelope.",
)


@documented(
    responses={
        200: Reply("Healthy, or degraded (Redis or the transport down).", schema=HEALTH_SCHEMA),
        503: Reply("Unhealthy: the database is down.", schema=HEALTH_SCHEMA),
    },
)
async def health(request: Request) -> JSONResponse:
    """Health of the service and its dependencies, in the seed's format (never rate-limited)."""
    context: ServiceContext = request.app.state.context
    found = await dependencies(context)
    status = overall(found)
    body = {
        "status": status,
        "timestamp": now_iso(),
        "version": __version__,
        "dependencies": found,
        "metrics": {
            "uptime": round(time.monotonic() - context.started_at),
            "requestsPerMinute": context.stats.per_minute(),
            "errorRate": context.stats.error_rate(),
        },
    }
    return JSONResponse(body, status_code=503 if status == "unhealthy" else 200)
