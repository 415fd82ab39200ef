"""Request bodies: bounded before they are read, then decoded into their contract, every problem a 400.

Each path has a body limit (BodyLimit, below): a Content-Length over it is
refused at once with 413 and the body is never read; a body without a length
is counted as it arrives and refused as soon as it passes the limit. So no
request can make the service hold more than its path's limit.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iotmon.core.contracts.validation import Invalid, convert, decode
from iotmon.service.responses import ApiError, error

C = TypeVar("C", bound=msgspec.Struct)
KIB, MIB = 1024, 1024 * 1024
DEFAULT_LIMIT = 64 * KIB
# The first that matches. Logins and other small forms get a few KiB; gateways' reading batches up to 8 MiB;
# history imports (CSV or JSON files, spooled to disk as they arrive) and backtests of an uploaded CSV 32 MiB,
# about a million CSV rows.
IMPORT_LIMIT = 32 * MIB
LIMITS = (
    (re.compile(r"^/api/devices/[^/]+/(import|backtest)$"), IMPORT_LIMIT),
    (re.compile(r"^/api/readings"), 8 * MIB),
    (re.compile(r"^/api/auth/"), 4 * KIB),
    (re.compile(r"^/api/users"), 4 * KIB),
)


def body_limit(path: str) -> int:
    return next((limit for pattern, limit in LIMITS if pattern.match(path)), DEFAULT_LIMIT)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"request body over {size(limit)}: send less")


class BodyLimit:
    """Refuses a body over its path's limit before reading it (Content-Length), or as soon as it passes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            refused = too_large(limit) if declared.isdigit() else ApiError(400, "BAD_REQUEST", "bad Content-Length")
            response = error(refused.status, refused.code, refused.message)
            response.headers["Connection"] = "close"  # the unread body is not waited for
            return await response(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
            return message

        await self.app(scope, counted, send)


async def body_as(request: Request, contract: type[C], *, optional: bool = False) -> C:
    """The body as `contract`; an empty body is the contract's defaults when `optional`."""
    body = await request.body()  # BodyLimit has bounded it
    try:
        if optional and not body.strip():
            return convert({}, contract)
        return decode(body, contract)
    except Invalid as invalid:
        raise ApiError(400, "VALIDATION_ERROR", invalid.message, invalid.details) from None


def size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit // KIB} KiB"
