"""Gateway API keys on the hot path: each key's writer, looked up in PostgreSQL and cached for a few seconds.

A gateway posts every second or so; asking PostgreSQL each time would put a
query before every write. Answers (unknown keys too, so that a flood of made-up
keys costs one query per key, not per request) are kept for TTL_S seconds in a
bounded, per-replica cache. So a revocation takes effect on this replica at once
(`forget`) and on every other replica within TTL_S seconds: that is the bound
to expect after DELETE /api/keys/{id}. A shared cache (Redis) would make it
immediate everywhere at the price of a Redis round trip per request; a few
seconds' grace is the better trade for an ingest path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool

from iotmon.adapters.postgres import api_keys
from iotmon.core.writers import Writer

TTL_S = 5.0
MAX_KEYS = 1024


class GatewayKeys:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        ttl_s: float = TTL_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool, self.ttl_s, self.max_keys, self.clock = pool, ttl_s, max_keys, clock
        self._known: OrderedDict[str, tuple[float, Writer | None]] = OrderedDict()
        self._generation = 0  # bumped by `forget`: a lookup begun before it must not cache its answer

    async def writer(self, key: str) -> Writer | None:
        """Who writes with `key`; None for an unknown or revoked key."""
        now = self.clock()
        cached = self._known.get(key)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        generation = self._generation
        async with self.pool.connection() as conn:
            found = await api_keys.writer(conn, key)
        if generation != self._generation:
            return found  # a revocation came while it was looked up: not cached (the next request asks again)
        self._known[key] = (now, found)
        self._known.move_to_end(key)
        while len(self._known) > self.max_keys:  # the oldest lookups go first
            self._known.popitem(last=False)
        return found

    def forget(self) -> None:
        """Drop every cached answer (after a revocation on this replica)."""
        self._known.clear()
        self._generation += 1
