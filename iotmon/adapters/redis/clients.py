"""Redis clients that fail fast while Redis is away and connect again by themselves when it is back.

redis-py's defaults wait 5 s for an answer and retry a failed command ten times
with backoff, so a caller could wait most of a minute on a Redis that does not
answer. Here a command waits at most `timeout_s` and is not retried: the
connection pool already replaces a connection Redis closed (a restart) before
lending it, and a Redis that does not answer is not asked twice. Every command
connects again as needed, so nothing has to be restarted when Redis is back.
"""

from __future__ import annotations

import time
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

CONNECT_TIMEOUT_S = 1.0
# The API's callers wait at most this long.
TIMEOUT_S = 2.0
# The functions' Lua scripts and pipelines work on whole batches: a fleet's batch saves 10,000 devices' rule
# states (~30 MB) in one call, which a Redis sharing a saturated machine may take seconds to read. A timeout there
# fails the whole batch, and its redelivery costs more than the wait (the fleet benchmark fell behind for good
# after a few at 2 s).
BATCH_TIMEOUT_S = 10.0
# After Redis failed to answer, the API's other callers fail at once for this long instead of each
# waiting out the timeout again; then one caller asks again.
PAUSE_S = 1.0


def options(timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """redis-py's keyword arguments for a sync client (python-socketio's RedisManager passes them on)."""
    return {
        "socket_connect_timeout": min(CONNECT_TIMEOUT_S, timeout_s),
        "socket_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
    }


def async_options(timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """The same for an asyncio client (python-socketio's AsyncRedisManager passes them on)."""
    return {**options(timeout_s), "retry": AsyncRetry(NoBackoff(), 0)}


def client(url: str, timeout_s: float = TIMEOUT_S) -> redis.Redis:
    return redis.Redis.from_url(url, **options(timeout_s))


def async_client(url: str, timeout_s: float = TIMEOUT_S) -> aioredis.Redis:
    """A client for callers that must answer quickly (the API): see `PAUSE_S`."""
    return aioredis.Redis.from_pool(_PausingPool.from_url(url, **async_options(timeout_s)))


class _PausingPool(aioredis.ConnectionPool):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._paused_until = 0.0  # 0: Redis answered last time

    async def get_connection(self, *_args: Any, **_options: Any) -> AbstractConnection:  # redis-py ignores them
        now = time.monotonic()
        if now < self._paused_until:
            raise RedisConnectionError(f"Redis did not answer a moment ago; asking again within {PAUSE_S:g} s")
        if self._paused_until:
            self._paused_until = now + PAUSE_S  # this caller asks; the others still fail at once
        connection: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        # redis-py drops a connection that failed or timed out: it comes back disconnected.
        self._paused_until = 0.0 if connection.is_connected else time.monotonic() + PAUSE_S
        await super().release(connection)
