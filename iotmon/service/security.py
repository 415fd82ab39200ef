"""Protections every response gets: a per-IP rate limit shared through Redis, and security headers."""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iotmon.service.responses import error

log = logging.getLogger(__name__)

EXEMPT = ("/api/health",)  # probes must never be limited
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class RateLimit:
    """At most `per_minute` API requests per client IP in each minute, counted in Redis for all replicas.

    A fixed one-minute window (INCR + EXPIRE in one round trip): over the
    limit, 429 with Retry-After = the seconds left in the window. If Redis
    cannot answer, requests pass: the limit protects the service, it must not
    take it down.
    """

    def __init__(self, app: ASGIApp, redis: aioredis.Redis, per_minute: int = 100) -> None:
        self.app, self.redis, self.per_minute = app, redis, per_minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api") or path.startswith(EXEMPT):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        now = time.time()
        window = int(now // 60)
        key = f"ratelimit:{client}:{window}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 61)
                count, _ = await pipe.execute()
        except Exception as problem:  # Redis down: serve rather than refuse everyone
            log.warning("rate limit unavailable", extra={"error": str(problem)})
            return await self.app(scope, receive, send)
        remaining = max(0, self.per_minute - count)
        if count > self.per_minute:
            retry_after = max(1, int((window + 1) * 60 - now))
            response = error(
                429, "RATE_LIMITED", f"over {self.per_minute} requests a minute from {client}: retry in {retry_after} s"
            )
            response.headers["Retry-After"] = str(retry_after)
            response.headers["X-RateLimit-Limit"] = str(self.per_minute)
            response.headers["X-RateLimit-Remaining"] = "0"
            return await response(scope, receive, send)

        async def with_limit_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-RateLimit-Limit"] = str(self.per_minute)
                headers["X-RateLimit-Remaining"] = str(remaining)
            await send(message)

        await self.app(scope, receive, with_limit_headers)


class SecurityHeaders:
    """CSP, no sniffing, no framing, a strict referrer policy (a response may set its own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
