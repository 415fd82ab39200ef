"""`alerts:active`: the open alerts, newest first, for readers that do not query PostgreSQL.

Rewritten whole after every alert change, with the API's cached alert views
made stale in the same round trip.
"""

from __future__ import annotations

import msgspec
import redis
import redis.asyncio as aioredis

from iotmon.adapters.redis.keys import ALERTS_ACTIVE, cache_generation

_items = msgspec.json.Decoder(list[msgspec.Raw])  # counted, not read: cheap on every batch


def store(client: redis.Redis, document: bytes) -> None:
    """`document`: the JSON list of ActiveAlert (iotmon.adapters.postgres.alerts.open_alerts_document)."""
    pipe = client.pipeline(transaction=False)
    pipe.set(ALERTS_ACTIVE, document)
    pipe.incr(cache_generation("alerts"))
    pipe.execute()


async def store_async(client: aioredis.Redis, document: bytes) -> None:
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(ALERTS_ACTIVE, document)
        pipe.incr(cache_generation("alerts"))
        await pipe.execute()


def count(document: bytes | None) -> int | None:
    """How many alerts a stored `alerts:active` holds; None when it is missing or unreadable."""
    if document is None:
        return None
    try:
        return len(_items.decode(document))
    except msgspec.DecodeError:
        return None
