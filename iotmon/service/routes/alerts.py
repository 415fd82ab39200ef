"""The alert endpoints: list, history, details with history, acknowledge, resolve, CSV export.

Reads are async SQL on the service's pool. The lifecycle's moves are the
alerts adapter's (one transaction each, the state machine enforced there, the
same code the functions run), in a threadpool on a pooled connection; each
change is then published to `alerts` (notify and Socket.IO hear it) and
`alerts:active` rewritten.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, LiteralString, Protocol

import psycopg
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from iotmon.adapters import faults
from iotmon.adapters.postgres import alerts
from iotmon.core.alerts import (
    ALERT_TYPES,
    ALLOWED,
    OPEN_STATUSES,
    SEVERITIES,
    STATUSES,
    AlertNotFound,
    InvalidTransition,
    alert_id,
    alert_number,
)
from iotmon.core.contracts.alerts import (
    AlertAnswer,
    AlertChange,
    AlertMoved,
    AlertMovedMeta,
    AlertNote,
    AlertPage,
    AlertPageMeta,
)
from iotmon.core.timestamps import iso
from iotmon.service import outbox_relay, params
from iotmon.service.context import ServiceContext
from iotmon.service.exports import stream_csv
from iotmon.service.openapi import FROM, TO, Query, Reply, documented
from iotmon.service.queries import alerts as queries
from iotmon.service.requests import body_as
from iotmon.service.responses import ApiError, JSONResponse, ok

log = logging.getLogger(__name__)

SOURCE = "/iotmon/api"
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_OFFSET = 10_000_000
INT4_MAX = 2**31 - 1
SEVERITIES_DOWN = tuple(reversed(SEVERITIES))

# --------------------------------------------------------------------------- filters

FILTERS = {
    "status": Query(
        str, f"Comma list of {', '.join(STATUSES)}; open (or active) for the open ones, all for every one."
    ),
    "severity": Query(str, f"Comma list of {', '.join(SEVERITIES_DOWN)}."),
    "deviceId": Query(str, "Only this device's alerts.", maxLength=100),
    "type": Query(str, f"Comma list of {', '.join(ALERT_TYPES)}."),
}
PAGING = {
    "limit": Query(int, "Page size.", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
    "offset": Query(int, "Alerts to skip.", minimum=0, maximum=MAX_OFFSET, default=0),
}


def _choices(name: str, raw: str | None, allowed: tuple[str, ...]) -> list[str] | None:
    if raw is None or raw.strip() == "":
        return None
    values = [part.strip() for part in raw.split(",") if part.strip()]
    if bad := [value for value in values if value not in allowed]:
        raise ApiError(400, "VALIDATION_ERROR", f"'{name}' must be a comma list of {', '.join(allowed)}", {name: bad})
    return values


def _statuses(raw: str | None, default: tuple[str, ...] | None) -> list[str] | None:
    """`status`: a comma list of statuses; `open`/`active` stand for the open ones, `all` for every one."""
    if raw is None or raw.strip() == "":
        return list(default) if default else None
    if raw.strip() == "all":
        return None
    expanded = ",".join(",".join(OPEN_STATUSES) if p.strip() in ("open", "active") else p for p in raw.split(","))
    return _choices("status", expanded, STATUSES)


def _device(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 100 or "\x00" in raw:
        message = "'deviceId' must be at most 100 characters, without NUL"
        raise ApiError(400, "VALIDATION_ERROR", message, {"deviceId": raw[:200]})
    return raw


def alert_filter(
    request: Request, *, default_status: tuple[str, ...] | None, times: bool
) -> tuple[LiteralString, dict[str, Any]]:
    """A WHERE clause and its parameters from status, severity, deviceId, type (and from/to)."""
    query = request.query_params
    values: dict[str, Any] = {
        "status": _statuses(query.get("status"), default_status),
        "severity": _choices("severity", query.get("severity"), SEVERITIES_DOWN),
        "device": _device(query.get("deviceId")),
        "type": _choices("type", query.get("type"), ALERT_TYPES),
    }
    conditions: list[LiteralString] = ["true"]
    if values["status"] is not None:
        conditions.append("status = ANY(%(status)s)")
    if values["severity"] is not None:
        conditions.append("severity = ANY(%(severity)s)")
    if values["device"] is not None:
        conditions.append("device_id = %(device)s")
    if values["type"] is not None:
        conditions.append("alert_type = ANY(%(type)s)")
    if times:
        start = params.timestamp("from", query.get("from"), datetime(1970, 1, 1, tzinfo=UTC))
        end = params.timestamp("to", query.get("to"), datetime(9999, 1, 1, tzinfo=UTC))
        if start > end:
            raise ApiError(
                400, "VALIDATION_ERROR", "'from' must not be after 'to'", {"from": iso(start), "to": iso(end)}
            )
        if query.get("from"):
            conditions.append("triggered_at >= %(from)s")
            values["from"] = start
        if query.get("to"):
            conditions.append("triggered_at <= %(to)s")
            values["to"] = end
    return " AND ".join(conditions), values


def _paging(request: Request) -> tuple[int, int]:
    query = request.query_params
    return (
        params.integer("limit", query.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT),
        params.integer("offset", query.get("offset"), 0, 0, MAX_OFFSET),
    )


ALERT_PAGE = Reply("A page of alerts, newest first.", data=AlertPage, meta=AlertPageMeta)


@documented(
    query={**FILTERS, **PAGING}, responses={200: ALERT_PAGE, 400: "A bad filter or paging value (VALIDATION_ERROR)."}
)
async def list_alerts(request: Request) -> JSONResponse:
    """List alerts: the open ones by default, filtered by status, severity, deviceId and type, paged."""
    return await _page(request, default_status=OPEN_STATUSES, times=False)


@documented(
    query={**FILTERS, "from": FROM, "to": TO, **PAGING},
    responses={200: ALERT_PAGE, 400: "A bad filter, time or paging value (VALIDATION_ERROR)."},
)
async def alert_history(request: Request) -> JSONResponse:
    """Alert history: every alert (any status unless `status`), from/to on triggeredAt, newest first."""
    return await _page(request, default_status=None, times=True)


async def _page(request: Request, *, default_status: tuple[str, ...] | None, times: bool) -> JSONResponse:
    context: ServiceContext = request.app.state.context
    where, values = alert_filter(request, default_status=default_status, times=times)
    limit, offset = _paging(request)
    async with context.db.connection() as conn:
        found, meta = await queries.page(conn, where, values, limit, offset)
    return ok(AlertPage(alerts=found), meta)


def _number(request: Request) -> int:
    raw = request.path_params["alert_id"]
    try:
        number = alert_number(raw)
    except ValueError:
        number = -1
    if not 0 < number <= INT4_MAX:
        raise ApiError(404, "ALERT_NOT_FOUND", f"alert {raw!r} does not exist", {"alertId": raw})
    return number


async def _alert(context: ServiceContext, number: int) -> AlertAnswer:
    async with context.db.connection() as conn:
        found = await queries.with_history(conn, number)
    if found is None:
        raise ApiError(404, "ALERT_NOT_FOUND", f"{alert_id(number)} does not exist", {"alertId": alert_id(number)})
    return AlertAnswer(alert=found)


ALERT_PATH = {"alert_id": "Alert id, e.g. alert-042."}


@documented(
    path=ALERT_PATH,
    responses={
        200: Reply("The alert with its history (oldest first).", data=AlertAnswer),
        404: "No such alert (ALERT_NOT_FOUND).",
    },
)
async def get_alert(request: Request) -> JSONResponse:
    """An alert and its history of changes, oldest first."""
    return ok(await _alert(request.app.state.context, _number(request)))


# --------------------------------------------------------------------------- lifecycle moves


class Move(Protocol):
    def __call__(
        self, conn: psycopg.Connection[Any], number: int, actor: str, note: str | None = None, *, source: str
    ) -> AlertChange: ...


def _move_sync(pool: ConnectionPool, move: Move, number: int, actor: str, note: str | None) -> AlertChange:
    with pool.connection() as conn:
        return move(conn, number, actor, note, source=SOURCE)


async def _operator_move(request: Request, move: Move) -> JSONResponse:
    context: ServiceContext = request.app.state.context
    number = _number(request)
    note = (await body_as(request, AlertNote, optional=True)).note
    actor = getattr(getattr(request.state, "user", None), "name", "anonymous")
    try:
        change = await run_in_threadpool(_move_sync, context.pool, move, number, actor, (note or "").strip() or None)
    except AlertNotFound as missing:
        raise ApiError(404, "ALERT_NOT_FOUND", str(missing), {"alertId": alert_id(number)}) from None
    except InvalidTransition as invalid:
        details = {
            "alertId": alert_id(number),
            "status": invalid.status,
            "to": invalid.to_status,
            "allowedFrom": list(ALLOWED[invalid.to_status]),
        }
        raise ApiError(409, "INVALID_TRANSITION", str(invalid), details) from None
    faults.point("after-alert-commit")
    published = await outbox_relay.after_moves(context)  # (the outbox keeps it if it could not go out yet)
    answer = await _alert(context, number)
    return ok(
        AlertMoved(alert=answer.alert, change=change), AlertMovedMeta(action=change.action, event_published=published)
    )


# Acknowledge and resolve take the same body and answer alike.
MOVE_DOCS: dict[str, Any] = {
    "path": ALERT_PATH,
    "body": AlertNote,
    "body_required": False,
    "body_description": "An optional note, kept in the alert's history.",
    "responses": {
        200: Reply("The alert after the move, and the change.", data=AlertMoved, meta=AlertMovedMeta),
        400: "A bad body (VALIDATION_ERROR).",
        404: "No such alert (ALERT_NOT_FOUND).",
        409: "Not allowed from the alert's status (INVALID_TRANSITION).",
    },
}


@documented(**MOVE_DOCS)
async def acknowledge_alert(request: Request) -> JSONResponse:
    """Acknowledge an alert: triggered or escalated → acknowledged, else 409."""
    return await _operator_move(request, alerts.acknowledge)


@documented(**MOVE_DOCS)
async def resolve_alert(request: Request) -> JSONResponse:
    """Resolve an alert: any open status → resolved, else 409."""
    return await _operator_move(request, alerts.resolve)


# --------------------------------------------------------------------------- CSV

ALERT_CSV_HEADER = [
    "id", "deviceId", "type", "severity", "status", "message", "value", "threshold",
    "triggeredAt", "acknowledgedAt", "acknowledgedBy", "escalatedAt", "resolvedAt", "resolvedBy",
]  # fmt: skip


def _csv_row(row: tuple[Any, ...]) -> list[Any]:
    (
        number,
        device,
        kind,
        message,
        severity,
        value,
        threshold,
        status,
        triggered,
        acked,
        resolved,
        escalated,
        ack_by,
        res_by,
        _,
    ) = row

    def stamp(moment: datetime | None) -> str | None:
        return iso(moment) if moment else None

    return [
        alert_id(number), device, kind, severity, status, message, value, threshold,
        stamp(triggered), stamp(acked), ack_by, stamp(escalated), stamp(resolved), res_by,
    ]  # fmt: skip


@documented(
    query={**FILTERS, "from": FROM, "to": TO},
    responses={
        200: Reply("CSV: " + ", ".join(ALERT_CSV_HEADER) + ".", media_type="text/csv"),
        400: "A bad filter or time (VALIDATION_ERROR).",
    },
)
async def alerts_csv(request: Request) -> StreamingResponse:
    """Alerts as CSV: the filters of /api/alerts (and from/to), no limit, streamed."""
    context: ServiceContext = request.app.state.context
    where, values = alert_filter(request, default_status=OPEN_STATUSES, times=True)
    return StreamingResponse(
        stream_csv(context, queries.listing(where), values, ALERT_CSV_HEADER, _csv_row),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="alerts.csv"'},
    )
