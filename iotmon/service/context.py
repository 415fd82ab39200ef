"""What the service's handlers share: connections, the transport, live statistics."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from eventing.transport import Transport
from iotmon.service.dead_letter_watch import DeadLetterWatch

# While PostgreSQL or Redis is away the API answers within 2 s (iotmon.service.responses: 503 and Retry-After).
DATABASE_WAIT_S = 1.5  # for a pooled connection, then 503 DATABASE_UNAVAILABLE
REDIS_TIMEOUT_S = 1.0  # for a Redis answer: then reads come from PostgreSQL, the rate limit and cache step aside


class HasHealth(Protocol):
    def health(self) -> dict[str, Any]: ...


@dataclass
class RequestStats:
    """Requests and errors over the last minute, for the health report."""

    window: float = 60.0
    _requests: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    _errors: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def record(self, status: int) -> None:
        now = time.monotonic()
        self._requests.append(now)
        if status >= 500:
            self._errors.append(now)

    def _recent(self, stamps: deque[float]) -> int:
        cutoff = time.monotonic() - self.window
        while stamps and stamps[0] < cutoff:
            stamps.popleft()
        return len(stamps)

    def per_minute(self) -> int:
        return self._recent(self._requests)

    def error_rate(self) -> float:
        requests = self.per_minute()
        return round(self._recent(self._errors) / requests, 4) if requests else 0.0


@dataclass
class ServiceContext:
    db: AsyncConnectionPool  # the API's reads
    pool: ConnectionPool  # the alert moves and silences, shared with the functions' (sync) code
    redis: aioredis.Redis
    transport: Transport
    transport_name: str  # "kafka" or "postgres"
    simulator: HasHealth | None = None
    started_at: float = field(default_factory=time.monotonic)
    stats: RequestStats = field(default_factory=RequestStats)
    dead_letters: DeadLetterWatch = field(init=False)

    def __post_init__(self) -> None:
        self.dead_letters = DeadLetterWatch(self.transport)
