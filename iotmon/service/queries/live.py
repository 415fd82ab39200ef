"""What the functions keep in Redis for the API to read: current values, window statistics, system figures.

Redis is a cache of what PostgreSQL holds: when it is down, or a value is
missing or unreadable, the answer is None and the API answers from PostgreSQL.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import msgspec
import redis.asyncio as aioredis

from iotmon.adapters.redis import keys
from iotmon.core.contracts.analytics import SystemMetricsDoc
from iotmon.core.contracts.devices import LiveValue, WindowStats

log = logging.getLogger(__name__)
C = TypeVar("C", bound=msgspec.Struct)


async def read(client: aioredis.Redis, names: list[str], contract: type[C]) -> list[C | None]:
    """The documents under `names` as `contract`; None where absent or unreadable (or Redis is down)."""
    if not names:
        return []
    try:
        raw = await client.mget(names)
    except Exception as error:  # Redis down: the API still answers from PostgreSQL
        log.warning("redis unavailable for a read", extra={"error": str(error)[:200]})
        return [None] * len(names)
    decoder = msgspec.json.Decoder(contract)
    found: list[C | None] = []
    for value in raw:
        try:
            found.append(decoder.decode(value) if value else None)
        except (msgspec.DecodeError, msgspec.ValidationError):
            found.append(None)
    return found


async def stats(client: aioredis.Redis, devices: list[str], window: str) -> list[WindowStats | None]:
    return await read(client, [keys.stats(device, window) for device in devices], WindowStats)


async def windows(client: aioredis.Redis, device: str) -> tuple[WindowStats | None, WindowStats | None]:
    """A device's 1 h and 24 h statistics, in one round trip."""
    hour, day = await read(client, [keys.stats(device, "1h"), keys.stats(device, "24h")], WindowStats)
    return hour, day


async def current(client: aioredis.Redis, devices: list[str]) -> list[LiveValue | None]:
    return await read(client, [keys.current(device) for device in devices], LiveValue)


async def system_metrics(client: aioredis.Redis) -> SystemMetricsDoc | None:
    (metrics,) = await read(client, [keys.SYSTEM_METRICS], SystemMetricsDoc)
    return metrics
