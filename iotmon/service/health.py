"""The health of the service's dependencies: PostgreSQL, Redis, the event transport (and the simulator)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool

from iotmon.core.contracts.common import HealthStatus
from iotmon.core.contracts.system import Dependencies, Dependency
from iotmon.service.context import ServiceContext

CHECK_TIMEOUT = 2.0
_abandoned: set[asyncio.Task[Any]] = set()  # checks past their time, kept until they end


async def _timed(check: Callable[[], Awaitable[Any]]) -> Dependency:
    started = time.perf_counter()
    task = asyncio.ensure_future(check())
    done, _ = await asyncio.wait({task}, timeout=CHECK_TIMEOUT)
    if not done:
        _abandon(task)
        error: BaseException | None = TimeoutError(f"no answer within {CHECK_TIMEOUT:g} s")
    else:
        error = task.exception()  # any failure of a dependency is reported, not raised
    found = Dependency(status="healthy", response_time=0.0)
    if error is not None:
        found = Dependency(status="unhealthy", response_time=0.0, error=f"{type(error).__name__}: {error}"[:300])
    found.response_time = round((time.perf_counter() - started) * 1000, 1)
    return found


def _abandon(task: asyncio.Task[Any]) -> None:
    """Cancel a check without waiting for it to end: psycopg takes up to 10 s to give up a query on a
    server that hangs, and the report must not wait for that."""
    _abandoned.add(task)
    task.add_done_callback(_forget)
    task.cancel()


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


async def dependencies(context: ServiceContext) -> Dependencies:
    async def database() -> None:
        async with context.db.connection() as conn:
            await conn.execute("SELECT 1")

    async def transport() -> None:
        await run_in_threadpool(context.transport.check)

    database_status, redis_status, kafka_status = await asyncio.gather(
        _timed(database), _timed(context.redis.ping), _timed(transport)
    )
    kafka_status.transport = context.transport_name
    simulator = context.simulator.health() if context.simulator is not None else msgspec.UNSET
    return Dependencies(database=database_status, redis=redis_status, kafka=kafka_status, simulator=simulator)


def overall(found: Dependencies) -> HealthStatus:
    """Healthy when all are; unhealthy without the database; degraded without Redis or the transport."""
    if all(dependency.status == "healthy" for dependency in (found.database, found.redis, found.kafka)):
        return "healthy"
    return "unhealthy" if found.database.status != "healthy" else "degraded"


def statuses(found: Dependencies) -> dict[str, str]:
    """Each dependency's status by name (the simulator's too, when it runs here)."""
    found_statuses: dict[str, str] = {
        "database": found.database.status,
        "redis": found.redis.status,
        "kafka": found.kafka.status,
    }
    if found.simulator is not msgspec.UNSET:
        found_statuses["simulator"] = str(found.simulator.get("status", "unknown"))
    return found_statuses
