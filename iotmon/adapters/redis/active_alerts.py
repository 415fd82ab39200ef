"""`alerts:active`: the open alerts, newest first, for readers that do not query PostgreSQL.

After alert changes commit, their writer moves the alerts generation (the API's cached alert views are stale
at once, before the changes are published) and the document is rewritten from PostgreSQL. Rewriting is
O(open alerts), so concurrent writers share it: one holds a lease while it rewrites, and rewrites again (up to
PASSES times) while the generation moved meanwhile; a writer that finds the lease taken leaves its change to
that one. The document records the generation it covers, so a slower rewrite never replaces a newer one, and
whatever a lease holder left behind (its last pass, a crash) is rewritten by the service's loop within a
second (`stale`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import msgspec
import redis
import redis.asyncio as aioredis

from iotmon.adapters.redis.keys import ALERTS_ACTIVE, cache_generation

GENERATION = cache_generation("alerts")
COVERS = "alerts:active:generation"  # the generation the stored document covers
LEASE = "alerts:active:rewriting"
LEASE_MS = 5_000  # far longer than a rewrite: only a writer that died keeps it that long
PASSES = 2

# The document, only if it covers a newer generation than the one stored.
_STORE = """
if tonumber(redis.call('GET', KEYS[2]) or '-1') < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
end
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end"
_items = msgspec.json.Decoder(list[msgspec.Raw])  # counted, not read: cheap on every batch


def changed(client: redis.Redis, document: Callable[[], bytes]) -> None:
    """After alert changes committed: move the generation, then rewrite the document (`document()` builds it:
    iotmon.adapters.postgres.alerts.open_alerts_document) unless another writer is at it."""
    client.incr(GENERATION)
    rewrite(client, document)


def rewrite(client: redis.Redis, document: Callable[[], bytes]) -> None:
    lease = uuid.uuid4().hex
    if not client.set(LEASE, lease, nx=True, px=LEASE_MS):
        return  # its holder sees the generation move and rewrites again
    try:
        for _ in range(PASSES):
            generation = int(client.get(GENERATION) or 0)
            client.eval(_STORE, 2, ALERTS_ACTIVE, COVERS, document(), generation)
            if int(client.get(GENERATION) or 0) == generation:
                return
    finally:
        client.eval(_RELEASE, 1, LEASE, lease)


async def changed_async(client: aioredis.Redis, document: Callable[[], Awaitable[bytes]]) -> None:
    await client.incr(GENERATION)
    await rewrite_async(client, document)


async def rewrite_async(client: aioredis.Redis, document: Callable[[], Awaitable[bytes]]) -> None:
    lease = uuid.uuid4().hex
    if not await client.set(LEASE, lease, nx=True, px=LEASE_MS):
        return
    try:
        for _ in range(PASSES):
            generation = int(await client.get(GENERATION) or 0)
            await client.eval(_STORE, 2, ALERTS_ACTIVE, COVERS, await document(), generation)
            if int(await client.get(GENERATION) or 0) == generation:
                return
    finally:
        await client.eval(_RELEASE, 1, LEASE, lease)


STATE = [ALERTS_ACTIVE, GENERATION, COVERS]  # what `stale` judges, in one MGET


async def stale(client: aioredis.Redis) -> bool:
    """Whether the document is missing or behind the generation (the service's loop then rewrites it)."""
    return is_stale(*await client.mget(STATE))


def is_stale(document: bytes | str | None, generation: bytes | str | None, covers: bytes | str | None) -> bool:
    return document is None or int(generation or 0) > int(covers or -1)


def count(document: bytes | None) -> int | None:
    """How many alerts a stored `alerts:active` holds; None when it is missing or unreadable."""
    if document is None:
        return None
    try:
        return len(_items.decode(document))
    except msgspec.DecodeError:
        return None
