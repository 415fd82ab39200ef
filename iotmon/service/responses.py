"""The response envelopes (iotmon.core.contracts.envelopes): `{"success": true, "data", "meta"}` and errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from iotmon.core.contracts.envelopes import ErrorBody, ErrorEnvelope
from iotmon.core.timestamps import iso

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5  # the pools connect again within seconds of the server's return (iotmon.adapters.postgres.db)


class JSONResponse(Response):
    """JSON from plain values or contracts, encoded by msgspec."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


class ApiError(Exception):
    """Raised by a handler to answer with the error envelope."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.retry_after = retry_after  # seconds, for a 429 or 503


def ok(data: Any, meta: msgspec.Struct | dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    """The success envelope: `meta` is the operation's own (a contract) with the answer's time added."""
    fields = msgspec.to_builtins(meta) if isinstance(meta, msgspec.Struct) else dict(meta or {})
    return JSONResponse({"success": True, "data": data, "meta": {**fields, "timestamp": now_iso()}}, status_code=status)


def error(status: int, code: str, message: str, details: Any = None, retry_after: int | None = None) -> JSONResponse:
    body = ErrorEnvelope(success=False, error=ErrorBody(code=code, message=message, details=details))
    response = JSONResponse(body, status_code=status)
    if retry_after is not None or status == 503:  # refused for now: say when to try again
        response.headers["Retry-After"] = str(retry_after or RETRY_AFTER_S)
    if status == 401:  # which credentials to send
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error(exc.status, exc.code, exc.message, exc.details, exc.retry_after)


async def database_unavailable(_request: Request, exc: Exception) -> Response:
    """PostgreSQL did not answer in time (no pooled connection within 1.5 s, or a lost one): 503, not 500."""
    return _unavailable("DATABASE_UNAVAILABLE", "the database (PostgreSQL)", exc)


async def redis_unavailable(_request: Request, exc: Exception) -> Response:
    """Redis did not answer where the answer cannot do without it (most reads fall back to PostgreSQL)."""
    return _unavailable("REDIS_UNAVAILABLE", "Redis", exc)


def _unavailable(code: str, what: str, exc: Exception) -> Response:
    log.warning("dependency unavailable", extra={"code": code, "error": f"{type(exc).__name__}: {exc}"[:300]})
    return error(
        503,
        code,
        f"{what} cannot be reached just now: try again in {RETRY_AFTER_S} s (Retry-After);"
        " GET /api/health says which dependency is down",
    )


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "request failed"
    if status == 404:
        detail = f"no route for {request.method} {request.url.path}"
    return error(status, _HTTP_CODES.get(status, "HTTP_ERROR"), detail)


def now_iso() -> str:
    return iso(datetime.now(UTC))
