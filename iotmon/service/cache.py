"""Response caching in Redis for the expensive reads, invalidated when what they depend on changes.

Each cached path names the data it depends on: `alerts`, `devices`,
`rollups` (hourly statistics). A counter per dependency in Redis is bumped
whenever that data changes — by the functions (evaluate-rule and escalate-cron
when alerts change, aggregate when it rolls up an hour) and by this service
after every successful write — and the counters are part of the cache key, so
a change makes the old entries unreachable at once (they expire on their
TTL). Readings arrive every second, so what depends on them only lives a few
seconds. Answers carry `X-Cache: HIT` or `MISS`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iotmon.adapters.redis.keys import cache_generation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cached:
    pattern: re.Pattern[str]
    depends_on: tuple[str, ...]
    ttl_s: int


RULES = (
    Cached(re.compile(r"^/api/analytics/summary$"), ("alerts", "rollups", "devices"), 300),
    Cached(re.compile(r"^/api/analytics/trends/[^/]+$"), ("rollups", "devices"), 10),
    Cached(re.compile(r"^/api/metrics/dashboard$"), ("alerts", "devices"), 2),
    Cached(re.compile(r"^/api/alerts/history$"), ("alerts",), 60),
    Cached(re.compile(r"^/api/alerts$"), ("alerts",), 30),
)
# What a successful write under a path changes.
WRITES = (
    (re.compile(r"^/api/devices/[^/]+/import$"), ("rollups",)),  # imported history is rolled up
    (re.compile(r"^/api/(alerts|silences)"), ("alerts",)),
    (re.compile(r"^/api/devices"), ("devices", "alerts")),  # decommissioning resolves alerts
)


def rule_for(path: str) -> Cached | None:
    return next((rule for rule in RULES if rule.pattern.match(path)), None)


def changed_by(path: str) -> tuple[str, ...]:
    return next((deps for pattern, deps in WRITES if pattern.match(path)), ())


class ResponseCache:
    def __init__(self, app: ASGIApp, redis: aioredis.Redis) -> None:
        self.app, self.redis = app, redis

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] != "GET":
            return await self._write(scope, receive, send)
        rule = rule_for(scope["path"])
        if rule is None:
            return await self.app(scope, receive, send)
        try:
            key = await self._key(scope, rule)
            hit = await self.redis.get(key)
        except Exception as problem:  # Redis down: answer uncached
            log.warning("response cache unavailable", extra={"error": str(problem)})
            return await self.app(scope, receive, send)
        if hit is not None:
            return await self._replay(hit.encode() if isinstance(hit, str) else hit, send)
        await self._store(scope, receive, send, key, rule.ttl_s)

    async def _key(self, scope: Scope, rule: Cached) -> str:
        generations = await self.redis.mget([cache_generation(d) for d in rule.depends_on])
        query = scope.get("query_string", b"").decode("latin-1")
        digest = hashlib.sha1(f"{scope['path']}?{query}|{generations}".encode()).hexdigest()
        return f"cache:response:{digest}"

    async def _replay(self, hit: bytes, send: Send) -> None:
        status, headers, body = msgspec.json.decode(hit)
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers] + [
            (b"x-cache", b"HIT")
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})

    async def _store(self, scope: Scope, receive: Receive, send: Send, key: str, ttl_s: int) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                message.setdefault("headers", []).append((b"x-cache", b"MISS"))
            else:
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if start.get("status") == 200:
            headers = [
                (n.decode("latin-1"), v.decode("latin-1")) for n, v in start["headers"] if n.lower() != b"x-cache"
            ]
            try:
                await self.redis.set(key, msgspec.json.encode([200, headers, b"".join(chunks).decode()]), ex=ttl_s)
            except Exception as problem:
                log.warning("response not cached", extra={"error": str(problem)})

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500

        async def note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, note)
        dependencies = changed_by(scope["path"])
        if status < 400 and dependencies:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for dependency in dependencies:
                        pipe.incr(cache_generation(dependency))
                    await pipe.execute()
            except Exception as problem:  # the write is done; cached answers expire on their own (seconds)
                log.warning("cached answers not invalidated", extra={"error": str(problem)})
