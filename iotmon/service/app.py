"""The ASGI application: Starlette for /api and /, python-socketio at /socket.io."""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import psycopg
import socketio
import uvicorn
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from eventing.transport import Transport
from iotmon.adapters import signing_keys
from iotmon.adapters.postgres import db, users
from iotmon.adapters.redis import clients
from iotmon.adapters.settings import Settings
from iotmon.service.access import Access, AccessControl
from iotmon.service.cache import ResponseCache
from iotmon.service.context import DATABASE_WAIT_S, REDIS_TIMEOUT_S, HasHealth, ServiceContext
from iotmon.service.fleet import FleetView
from iotmon.service.gateway_keys import GatewayKeys
from iotmon.service.metrics import Metrics, RouterFigures
from iotmon.service.outbox_relay import OutboxRelay
from iotmon.service.password_work import PasswordWork
from iotmon.service.realtime import WEBSOCKET_OPTIONS, Realtime
from iotmon.service.requests import BodyLimit
from iotmon.service.responses import (
    ApiError,
    api_error_handler,
    database_unavailable,
    error,
    http_error_handler,
    redis_unavailable,
)
from iotmon.service.routes import API_ROUTES, FALLBACK, PROBES
from iotmon.service.security import CONTENT_SECURITY_POLICY, RateLimit, SecurityHeaders

log = logging.getLogger("iotmon.service")

# frontend/dist once built, carried in the package (a link here, files in a wheel).
DASHBOARD_DIR = Path(__file__).with_name("dashboard")
FALLBACK_PAGE = Path(__file__).with_name("status.html")


class RequestLog:
    """Counts requests for the health report, logs them with an id, and turns crashes into 500 envelopes."""

    def __init__(self, app: ASGIApp, context: ServiceContext, metrics: Metrics) -> None:
        self.app, self.context, self.metrics = app, context, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex[:16]
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.context.stats.record(status)
            endpoint = getattr(scope.get("endpoint"), "__name__", "unmatched")  # the router put it in the scope
            self.metrics.observe(scope["method"], endpoint, status, seconds)
            if scope["path"].startswith("/api"):
                log.info(
                    "request",
                    extra={
                        "requestId": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(seconds * 1000, 1),
                    },
                )


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", extra={"path": request.url.path})
    return error(500, "INTERNAL_ERROR", "the service failed to answer; the error is logged")


def _fallback_page() -> HTMLResponse:
    """The status page, with a CSP that allows exactly its own inline script."""
    html = FALLBACK_PAGE.read_text()
    script = html.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' 'sha256-{digest}'")
    return HTMLResponse(html, headers={"content-security-policy": policy})


IMMUTABLE = "public, max-age=31536000, immutable"
GZIP_MIN_BYTES = 1024


class DashboardAssets(StaticFiles):
    """The built dashboard's files: names carry a content hash, so browsers may keep them for good. Each is
    gzipped once and kept in memory (a few hundred KB in all): compressing the JavaScript on every request took
    most of a busy machine's first view and first chart."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gzipped: dict[str, tuple[float, bytes]] = {}  # path → (its mtime, its gzip)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = IMMUTABLE
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        accepted = dict(scope["headers"]).get(b"accept-encoding", b"")
        if not isinstance(response, FileResponse) or response.status_code != 200 or b"gzip" not in accepted:
            return response
        stat = response.stat_result
        if stat is None or stat.st_size < GZIP_MIN_BYTES:
            return response
        file = str(response.path)
        cached = self._gzipped.get(file)
        if cached is None or cached[0] != stat.st_mtime:
            body = await run_in_threadpool(lambda: gzip.compress(Path(file).read_bytes(), compresslevel=6))
            cached = self._gzipped[file] = (stat.st_mtime, body)
        headers = {
            "cache-control": IMMUTABLE,
            "content-encoding": "gzip",
            "vary": "Accept-Encoding",
            "last-modified": response.headers.get("last-modified", ""),
            "etag": response.headers.get("etag", ""),
        }
        return Response(cached[1], media_type=response.media_type, headers=headers)


async def dashboard(_request: Request) -> Response:
    """The built dashboard's index for every client-side route; a status page until it is built."""
    index = DASHBOARD_DIR / "index.html"
    return FileResponse(index, headers={"cache-control": "no-cache"}) if index.exists() else _fallback_page()


def create_app(
    database_url: str,
    redis_url: str,
    transport: Transport,
    transport_name: str,
    simulator: HasHealth | None = None,
    settings: Settings | None = None,
    router: RouterFigures | None = None,
) -> ASGIApp:
    context = ServiceContext(
        db=db.async_pool(database_url, wait_s=DATABASE_WAIT_S),
        pool=db.pool(database_url, max_size=4, wait_s=DATABASE_WAIT_S),
        redis=clients.async_client(redis_url, REDIS_TIMEOUT_S),
        transport=transport,
        transport_name=transport_name,
        simulator=simulator,
    )

    settings = settings or Settings.from_env()
    access = Access(
        context.db,
        anonymous_read=settings.anonymous_read,
        token_ttl_s=settings.token_ttl_s,
        session_ttl_s=settings.session_ttl_s,
        keys=signing_keys.load(settings.jwt_keys, settings.data_dir),
        metrics_token=settings.metrics_token,
    )
    fleet = FleetView(context)
    realtime = Realtime(context, redis_url, access, settings.cors_origins, fleet)
    password_work = PasswordWork()
    relay = OutboxRelay(context, settings.outbox_relay_s)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await context.db.open(wait=True, timeout=30)
        await password_work.run(users.unknown_user_hash)  # made now, so the first unknown login costs no more
        realtime.start()
        relay.start()
        try:
            yield
        finally:
            password_work.close()
            await relay.stop()
            await realtime.stop()
            await context.db.close()
            context.pool.close()
            await context.redis.aclose()

    metrics = Metrics()
    if router is not None:
        metrics.watch_router(router)
    routes = [Route("/metrics", metrics.endpoint), *PROBES, *API_ROUTES, *FALLBACK]
    if (DASHBOARD_DIR / "assets").is_dir():
        # Plotly's partial bundle is 1.1 MB of JavaScript and 0.4 MB gzipped (once: DashboardAssets).
        routes.append(Mount("/assets", DashboardAssets(directory=DASHBOARD_DIR / "assets")))
    routes.append(Route("/{path:path}", dashboard))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error_handler,
            HTTPException: http_error_handler,
            psycopg.OperationalError: database_unavailable,  # PoolTimeout too
            RedisConnectionError: redis_unavailable,
            RedisTimeoutError: redis_unavailable,
            Exception: unexpected_error,
        },
    )
    app.state.context = context
    app.state.access = access
    app.state.fleet = fleet
    app.state.password_work = password_work
    app.state.live_sessions = realtime.sessions
    app.state.gateway_keys = gateway_keys = GatewayKeys(context.db)
    # Outermost first: log every request, add headers to every answer (429s and 413s included), bound the body,
    # CORS, limit, authorise, cache.
    guarded: ASGIApp = AccessControl(ResponseCache(app, context.redis), access, gateway_keys)
    guarded = RateLimit(guarded, context.redis, settings.rate_limit_per_minute)
    if settings.cors_origins:
        guarded = CORSMiddleware(
            guarded,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            expose_headers=["X-Request-Id", "Retry-After"],
        )
    guarded = SecurityHeaders(BodyLimit(guarded))
    service: ASGIApp = socketio.ASGIApp(
        realtime.sio, other_asgi_app=RequestLog(guarded, context, metrics), socketio_path="socket.io"
    )
    # The client is the peer, unless the peer is a proxy listed in IOTMON_TRUSTED_PROXIES: only then does
    # X-Forwarded-For say who the client is (anyone else could claim any address and dodge the limits).
    proxied = ProxyHeadersMiddleware(cast(Any, service), trusted_hosts=list(settings.trusted_proxies))
    return cast(ASGIApp, proxied)


def server_config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    """How uvicorn serves the app: forwarded headers are the app's to judge (uvicorn would trust 127.0.0.1)."""
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False, **WEBSOCKET_OPTIONS
    )
