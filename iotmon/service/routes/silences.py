"""Silences: no email or webhook for a device (or every device) for a while. Create, list, delete.

The storage is the adapter notify reads (iotmon.adapters.postgres.silences),
run in a threadpool on a pooled connection.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from iotmon.adapters.postgres import silences
from iotmon.core.contracts.alerts import NewSilence, SilenceAnswer, SilenceDeleted, SilenceList, SilenceListMeta
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Query, Reply, documented
from iotmon.service.requests import body_as
from iotmon.service.responses import ApiError, JSONResponse, ok

INT8_MAX = 2**63 - 1


@documented(
    body=NewSilence,
    responses={
        201: Reply("The silence.", data=SilenceAnswer),
        400: "A bad body (VALIDATION_ERROR).",
    },
)
async def create_silence(request: Request) -> JSONResponse:
    """Create a silence: no notifications for a device (or every device) until endsAt."""
    context: ServiceContext = request.app.state.context
    new = await body_as(request, NewSilence)
    now = datetime.now(UTC)
    ends_at = params.timestamp("endsAt", new.ends_at, now)
    starts_at = params.timestamp("startsAt", new.starts_at, now) if new.starts_at is not None else None
    creator = getattr(getattr(request.state, "user", None), "name", "anonymous")

    def create() -> silences.Silence:
        with context.pool.connection() as conn:
            return silences.create_silence(
                conn,
                device_id=new.device_id,
                reason=new.reason,
                created_by=creator,
                ends_at=ends_at,
                starts_at=starts_at,
            )

    try:
        created = await run_in_threadpool(create)
    except silences.SilenceError as problem:
        raise ApiError(400, "VALIDATION_ERROR", str(problem)) from None
    return ok(SilenceAnswer(silence=created.contract()), status=201)


@documented(
    query={
        "includeExpired": Query(str, "Also the silences that have ended.", enum=["true", "false", "1", "0"]),
        "deviceId": Query(str, "Only this device's silences (and those for every device).", maxLength=50),
    },
    responses={
        200: Reply("The silences.", data=SilenceList, meta=SilenceListMeta),
        400: "A bad parameter (VALIDATION_ERROR).",
    },
)
async def list_silences(request: Request) -> JSONResponse:
    """List current and future silences, soonest ending first."""
    context: ServiceContext = request.app.state.context
    raw = (request.query_params.get("includeExpired") or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, "VALIDATION_ERROR", "'includeExpired' must be true or false", {"includeExpired": raw})
    device = request.query_params.get("deviceId") or None
    if device is not None and (len(device) > 50 or "\x00" in device):
        raise ApiError(
            400, "VALIDATION_ERROR", "'deviceId' must be at most 50 characters, without NUL", {"deviceId": device[:200]}
        )

    def listed() -> list[silences.Silence]:
        with context.pool.connection() as conn:
            return silences.list_silences(conn, device_id=device, include_expired=raw in ("true", "1"))

    found = [silence.contract() for silence in await run_in_threadpool(listed)]
    return ok(SilenceList(silences=found), SilenceListMeta(count=len(found)))


@documented(
    path={"silence_id": "The silence's number."},
    responses={200: Reply("Deleted.", data=SilenceDeleted), 404: "No such silence (SILENCE_NOT_FOUND)."},
)
async def delete_silence(request: Request) -> JSONResponse:
    """Delete a silence."""
    context: ServiceContext = request.app.state.context
    raw = request.path_params["silence_id"]
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 20 else -1

    def delete() -> bool:
        with context.pool.connection() as conn:
            return silences.delete_silence(conn, number)

    if not 0 < number <= INT8_MAX or not await run_in_threadpool(delete):
        raise ApiError(404, "SILENCE_NOT_FOUND", f"silence {raw!r} does not exist", {"id": raw})
    return ok(SilenceDeleted(deleted=number))
