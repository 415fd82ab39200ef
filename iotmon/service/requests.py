"""Request bodies: read within a size limit, then decoded into their contract, every problem a 400."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from iotmon.core.contracts.validation import Invalid, convert, decode
from iotmon.service.responses import ApiError

C = TypeVar("C", bound=msgspec.Struct)
MAX_BODY = 64 * 1024


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body; 413 as soon as it passes `limit` bytes (nothing more is read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body over {_size(limit)}")
    return bytes(body)


async def body_as(request: Request, contract: type[C], *, optional: bool = False) -> C:
    """The body as `contract`; an empty body is the contract's defaults when `optional`."""
    body = await read_body(request)
    try:
        if optional and not body.strip():
            return convert({}, contract)
        return decode(body, contract)
    except Invalid as invalid:
        raise ApiError(400, "VALIDATION_ERROR", invalid.message, invalid.details) from None


def _size(limit: int) -> str:
    return f"{limit // 1024 // 1024} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
