"""The alert endpoints (architecture §4.5): list, details with history, acknowledge, resolve,
history, CSV export; and silences (create, list, delete).

Reads are async SQL on the service's pool. The lifecycle's moves are iotmon.alerts' (sync,
one transaction each, the state machine enforced there), run in a threadpool on a short-lived
connection; each change is then published to `alerts` (notify and Socket.IO hear it) and the
seed's `alerts:active` rebuilt. Each write endpoint is its own function (a role check goes in front).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from eventing import topics
from eventing.events import alert_event
from iotmon.adapters.postgres import alerts as store
from iotmon.adapters.postgres import silences
from iotmon.adapters.redis.keys import ALERTS_ACTIVE
from iotmon.core.alerts import (
    ALLOWED,
    OPEN_STATUSES,
    SEVERITIES,
    STATUSES,
    AlertNotFound,
    InvalidTransition,
    alert_id,
    alert_number,
)
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.exports import stream_csv
from iotmon.service.openapi import FROM, TO, Query, Reply, documented, obj
from iotmon.service.responses import ApiError, JSONResponse, iso, ok

log = logging.getLogger(__name__)

SOURCE = "/iotmon/api"
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_OFFSET = 10_000_000
MAX_NOTE = 1000
MAX_BODY = 64 * 1024
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1

_COLUMNS = (
    "id, device_id, alert_type, message, severity, value::float8, threshold::float8, status,"
    " triggered_at, acknowledged_at, resolved_at, escalated_at, acknowledged_by, resolved_by, details"
)


def actor_of(request: Request) -> str:
    return getattr(getattr(request.state, "user", None), "name", "anonymous")


async def read_json(request: Request, *, optional: bool = False) -> Any:
    """The request's JSON body (None for an empty one when optional), or a 400/413."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body over {MAX_BODY // 1024} KiB")
    if not body.strip():
        if optional:
            return None
        raise ApiError(400, "VALIDATION_ERROR", "a JSON body is required")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise ApiError(400, "VALIDATION_ERROR", f"request body is not valid JSON: {error}") from None


def alert_json(row: dict[str, Any]) -> dict[str, Any]:
    """The seed's alert shape, plus escalatedAt, acknowledgedBy, resolvedBy, details."""
    return {
        "id": alert_id(row["id"]),
        "deviceId": row["device_id"],
        "type": row["alert_type"],
        "message": row["message"],
        "severity": row["severity"],
        "value": row["value"],
        "threshold": row["threshold"],
        "status": row["status"],
        "triggeredAt": iso(row["triggered_at"]),
        "acknowledgedAt": iso(row["acknowledged_at"]) if row["acknowledged_at"] else None,
        "resolvedAt": iso(row["resolved_at"]) if row["resolved_at"] else None,
        "escalatedAt": iso(row["escalated_at"]) if row["escalated_at"] else None,
        "acknowledgedBy": row["acknowledged_by"],
        "resolvedBy": row["resolved_by"],
        "details": row["details"] or {},
    }


# --------------------------------------------------------------------------- filters


def _list(name: str, raw: str | None, allowed: tuple[str, ...]) -> list[str] | None:
    if raw is None or raw.strip() == "":
        return None
    values = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [value for value in values if value not in allowed]
    if bad:
        raise ApiError(400, "VALIDATION_ERROR", f"'{name}' must be a comma list of {', '.join(allowed)}", {name: bad})
    return values


def _statuses(raw: str | None, default: tuple[str, ...] | None) -> list[str] | None:
    """`status`: a comma list of states; `open`/`active` stand for the open ones, `all` for every one."""
    if raw is None or raw.strip() == "":
        return list(default) if default else None
    if raw.strip() == "all":
        return None
    expanded = ",".join(",".join(OPEN_STATUSES) if p.strip() in ("open", "active") else p for p in raw.split(","))
    return _list("status", expanded, STATUSES)


def _text(name: str, raw: str | None, high: int = 100) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > high or "\x00" in raw:
        raise ApiError(
            400, "VALIDATION_ERROR", f"'{name}' must be at most {high} characters, without NUL", {name: raw[:200]}
        )
    return raw


def alert_filter(
    request: Request, *, default_status: tuple[str, ...] | None, times: bool
) -> tuple[str, dict[str, Any]]:
    """A WHERE clause and its parameters from status, severity, deviceId, type (and from/to)."""
    query = request.query_params
    values: dict[str, Any] = {
        "status": _statuses(query.get("status"), default_status),
        "severity": _list("severity", query.get("severity"), tuple(reversed(SEVERITIES))),
        "device": _text("deviceId", query.get("deviceId")),
        "type": _text("type", query.get("type")),
    }
    where = ["true"]
    if values["status"] is not None:
        where.append("status = ANY(%(status)s)")
    if values["severity"] is not None:
        where.append("severity = ANY(%(severity)s)")
    if values["device"] is not None:
        where.append("device_id = %(device)s")
    if values["type"] is not None:
        where.append("alert_type = %(type)s")
    if times:
        far_past = datetime(1970, 1, 1, tzinfo=UTC)
        far_future = datetime(9999, 1, 1, tzinfo=UTC)
        start = params.timestamp("from", query.get("from"), far_past)
        end = params.timestamp("to", query.get("to"), far_future)
        if start > end:
            raise ApiError(
                400, "VALIDATION_ERROR", "'from' must not be after 'to'", {"from": iso(start), "to": iso(end)}
            )
        if query.get("from"):
            where.append("triggered_at >= %(from)s")
            values["from"] = start
        if query.get("to"):
            where.append("triggered_at <= %(to)s")
            values["to"] = end
    return " AND ".join(where), values


def _paging(request: Request) -> tuple[int, int]:
    query = request.query_params
    return (
        params.integer("limit", query.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT),
        params.integer("offset", query.get("offset"), 0, 0, MAX_OFFSET),
    )


async def _page(
    context: ServiceContext, where: str, values: dict[str, Any], limit: int, offset: int
) -> tuple[list, dict]:
    counts_sql = (
        "SELECT count(*) AS total,"
        " count(*) FILTER (WHERE severity = 'critical') AS critical, count(*) FILTER (WHERE severity = 'high') AS high,"
        " count(*) FILTER (WHERE severity = 'medium') AS medium, count(*) FILTER (WHERE severity = 'low') AS low"
        f" FROM alerts WHERE {where}"
    )
    rows_sql = f"SELECT {_COLUMNS} FROM alerts WHERE {where} ORDER BY triggered_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"
    async with context.db.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        counts = await (await cursor.execute(counts_sql, values)).fetchone()
        rows = await (await cursor.execute(rows_sql, {**values, "limit": limit, "offset": offset})).fetchall()
    meta = {
        "totalAlerts": counts["total"],
        "criticalAlerts": counts["critical"],
        "highAlerts": counts["high"],
        "mediumAlerts": counts["medium"],
        "lowAlerts": counts["low"],
        "count": len(rows),
        "limit": limit,
        "offset": offset,
    }
    return [alert_json(row) for row in rows], meta


FILTERS = {
    "status": Query(
        str,
        "Comma list of triggered, acknowledged, escalated, resolved; open (or active) for the open ones, all for every one.",
    ),
    "severity": Query(str, "Comma list of critical, high, medium, low."),
    "deviceId": Query(str, "Only this device's alerts.", maxLength=100),
    "type": Query(str, "Only alerts of this type (threshold_high, anomaly, device_offline...).", maxLength=100),
}
PAGING = {
    "limit": Query(int, "Page size.", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
    "offset": Query(int, "Alerts to skip.", minimum=0, maximum=MAX_OFFSET, default=0),
}
ALERT_PAGE = Reply(
    "A page of alerts, newest first; meta has totalAlerts, criticalAlerts, highAlerts, mediumAlerts, lowAlerts, count, limit, offset.",
    data=obj({"alerts": {"type": "array", "items": {"type": "object"}}}, ["alerts"]),
)
ALERT_PATH = {"alert_id": "Alert id, e.g. alert-000042 (or the bare number)."}
NOTE_BODY = obj({"note": {"type": ["string", "null"], "maxLength": MAX_NOTE}}, additionalProperties=False)


@documented(
    query={**FILTERS, **PAGING}, responses={200: ALERT_PAGE, 400: "A bad filter or paging value (VALIDATION_ERROR)."}
)
async def list_alerts(request: Request) -> JSONResponse:
    """List alerts: the open ones by default, filtered by status, severity, deviceId and type, paged."""
    context: ServiceContext = request.app.state.context
    where, values = alert_filter(request, default_status=OPEN_STATUSES, times=False)
    limit, offset = _paging(request)
    found, meta = await _page(context, where, values, limit, offset)
    return ok({"alerts": found}, meta)


@documented(
    query={**FILTERS, "from": FROM, "to": TO, **PAGING},
    responses={200: ALERT_PAGE, 400: "A bad filter, time or paging value (VALIDATION_ERROR)."},
)
async def alert_history(request: Request) -> JSONResponse:
    """Alert history: every alert (any status unless `status`), from/to on triggeredAt, newest first."""
    context: ServiceContext = request.app.state.context
    where, values = alert_filter(request, default_status=None, times=True)
    limit, offset = _paging(request)
    found, meta = await _page(context, where, values, limit, offset)
    return ok({"alerts": found}, meta)


def _number(request: Request) -> int:
    raw = request.path_params["alert_id"]
    try:
        number = alert_number(raw)
    except ValueError:
        number = -1
    if not 0 < number <= INT4_MAX:
        raise ApiError(404, "ALERT_NOT_FOUND", f"alert {raw!r} does not exist", {"alertId": raw})
    return number


async def _alert_with_history(context: ServiceContext, number: int) -> dict[str, Any] | None:
    async with context.db.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        row = await (await cursor.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = %s", (number,))).fetchone()
        if row is None:
            return None
        steps = await (
            await cursor.execute(
                "SELECT id, action, from_status, to_status, actor, note, details, at FROM alert_history"
                " WHERE alert_id = %s ORDER BY id",
                (number,),
            )
        ).fetchall()
    found = alert_json(row)
    found["history"] = [
        {
            "sequence": step["id"],
            "action": step["action"],
            "fromStatus": step["from_status"],
            "toStatus": step["to_status"],
            "actor": step["actor"],
            "note": step["note"],
            "details": step["details"] or {},
            "at": iso(step["at"]),
        }
        for step in steps
    ]
    return found


@documented(
    path=ALERT_PATH,
    responses={
        200: Reply("The alert with its history (oldest first).", data=obj({"alert": {"type": "object"}}, ["alert"])),
        404: "No such alert (ALERT_NOT_FOUND).",
    },
)
async def get_alert(request: Request) -> JSONResponse:
    """An alert and its history of changes, oldest first."""
    context: ServiceContext = request.app.state.context
    number = _number(request)
    found = await _alert_with_history(context, number)
    if found is None:
        raise ApiError(404, "ALERT_NOT_FOUND", f"{alert_id(number)} does not exist", {"alertId": alert_id(number)})
    return ok({"alert": found})


# --------------------------------------------------------------------------- lifecycle moves


async def _note(request: Request) -> str | None:
    body = await read_json(request, optional=True)
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError(400, "VALIDATION_ERROR", 'the body must be a JSON object: {"note": "..."}')
    unknown = sorted(set(body) - {"note"})
    if unknown:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"unknown field(s): {', '.join(unknown)}",
            {"unknown": unknown, "allowed": ["note"]},
        )
    note = body.get("note")
    if note is None:
        return None
    if not isinstance(note, str) or "\x00" in note:
        raise ApiError(400, "VALIDATION_ERROR", "'note' must be a string (without NUL)", {"note": type(note).__name__})
    if len(note) > MAX_NOTE:
        raise ApiError(400, "VALIDATION_ERROR", f"'note' is longer than {MAX_NOTE} characters", {"length": len(note)})
    return note.strip() or None


def _move_sync(conninfo: str, move: Any, number: int, actor: str, note: str | None) -> tuple[dict, list]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        change = move(conn, number, actor, note)
        active = store.open_alerts(conn)
    return change, active


async def _operator_move(request: Request, move: Any) -> JSONResponse:
    context: ServiceContext = request.app.state.context
    number = _number(request)
    note = await _note(request)
    actor = actor_of(request)
    try:
        change, active = await run_in_threadpool(_move_sync, context.db.conninfo, move, number, actor, note)
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
    published = True
    try:
        await run_in_threadpool(context.transport.publish, topics.ALERTS, [alert_event(change, SOURCE)])
    except Exception:  # the move is committed (PostgreSQL is the truth); say the event did not go out
        log.exception("could not publish the alert change", extra={"alertId": change["alertId"]})
        published = False
    try:
        await context.redis.set(ALERTS_ACTIVE, json.dumps(active))  # what iotmon.alerts.refresh_active writes
    except Exception:
        log.warning("could not refresh %s", ALERTS_ACTIVE, exc_info=True)
    found = await _alert_with_history(context, number)
    return ok({"alert": found, "change": change}, {"action": change["action"], "eventPublished": published})


# Acknowledge and resolve take the same body and answer alike.
MOVE_DOCS = dict(
    path=ALERT_PATH,
    body=NOTE_BODY,
    body_required=False,
    body_description="An optional note, kept in the alert's history.",
    responses={
        200: Reply(
            "The alert after the move and the change; meta has action and eventPublished.",
            data=obj({"alert": {"type": "object"}, "change": {"type": "object"}}, ["alert", "change"]),
        ),
        400: "A bad body (VALIDATION_ERROR).",
        404: "No such alert (ALERT_NOT_FOUND).",
        409: "Not allowed from the alert's status (INVALID_TRANSITION).",
        413: "The body is over 64 KiB.",
    },
)


@documented(**MOVE_DOCS)
async def acknowledge_alert(request: Request) -> JSONResponse:
    """Acknowledge an alert: triggered or escalated → acknowledged, else 409."""
    return await _operator_move(request, store.acknowledge)


@documented(**MOVE_DOCS)
async def resolve_alert(request: Request) -> JSONResponse:
    """Resolve an alert: any open state → resolved, else 409."""
    return await _operator_move(request, store.resolve)


# --------------------------------------------------------------------------- CSV


ALERT_CSV_HEADER = [
    "id",
    "deviceId",
    "type",
    "severity",
    "status",
    "message",
    "value",
    "threshold",
    "triggeredAt",
    "acknowledgedAt",
    "acknowledgedBy",
    "escalatedAt",
    "resolvedAt",
    "resolvedBy",
]


def _alert_csv_row(row: tuple) -> list[Any]:
    number, device, kind, message, severity, value, threshold, status, trig, ack, res, esc, ack_by, res_by, _details = (
        row
    )
    stamp = lambda moment: iso(moment) if moment else None  # noqa: E731
    return [
        alert_id(number),
        device,
        kind,
        severity,
        status,
        message,
        value,
        threshold,
        stamp(trig),
        stamp(ack),
        ack_by,
        stamp(esc),
        stamp(res),
        res_by,
    ]


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
    sql = f"SELECT {_COLUMNS} FROM alerts WHERE {where} ORDER BY triggered_at DESC, id DESC"
    return StreamingResponse(
        stream_csv(context, sql, values, ALERT_CSV_HEADER, _alert_csv_row),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="alerts.csv"'},
    )


# --------------------------------------------------------------------------- silences

SILENCE_FIELDS = {"deviceId", "reason", "endsAt", "startsAt"}


def _moment(name: str, value: Any, required: bool) -> datetime | None:
    if value is None:
        if required:
            raise ApiError(400, "VALIDATION_ERROR", f"'{name}' is required (ISO 8601 time)")
        return None
    if not isinstance(value, str):
        raise ApiError(400, "VALIDATION_ERROR", f"'{name}' must be an ISO 8601 time", {name: value})
    return params.timestamp(name, value, datetime.now(UTC))


def _create_sync(conninfo: str, **fields: Any) -> dict[str, Any]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return silences.create_silence(conn, **fields).to_json()


SILENCE_BODY = obj(
    {
        "deviceId": {"type": ["string", "null"], "minLength": 1, "maxLength": 50, "description": "null: every device."},
        "reason": {"type": "string"},
        "endsAt": {"type": "string", "description": "ISO 8601 time or epoch milliseconds."},
        "startsAt": {"type": ["string", "null"], "description": "ISO 8601 time or epoch milliseconds (default: now)."},
    },
    ["reason", "endsAt"],
    additionalProperties=False,
)


@documented(
    body=SILENCE_BODY,
    responses={
        201: Reply("The silence.", data=obj({"silence": {"type": "object"}}, ["silence"])),
        400: "A bad body (VALIDATION_ERROR).",
        413: "The body is over 64 KiB.",
    },
)
async def create_silence(request: Request) -> JSONResponse:
    """Create a silence: no notifications for a device (or every device) until endsAt."""
    context: ServiceContext = request.app.state.context
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "VALIDATION_ERROR", "the body must be a JSON object {deviceId, reason, endsAt, startsAt?}")
    unknown = sorted(set(body) - SILENCE_FIELDS)
    if unknown:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"unknown field(s): {', '.join(unknown)}",
            {"unknown": unknown, "allowed": sorted(SILENCE_FIELDS)},
        )
    device = body.get("deviceId")
    if device is not None and (not isinstance(device, str) or not device or len(device) > 50 or "\x00" in device):
        raise ApiError(
            400, "VALIDATION_ERROR", "'deviceId' must be a device id or null (every device)", {"deviceId": device}
        )
    reason = body.get("reason")
    if not isinstance(reason, str) or "\x00" in reason:
        raise ApiError(400, "VALIDATION_ERROR", "'reason' is required (a string, without NUL)")
    ends_at = _moment("endsAt", body.get("endsAt"), True)
    starts_at = _moment("startsAt", body.get("startsAt"), False)
    try:
        created = await run_in_threadpool(
            _create_sync,
            context.db.conninfo,
            device_id=device,
            reason=reason,
            created_by=actor_of(request),
            ends_at=ends_at,
            starts_at=starts_at,
        )
    except silences.SilenceError as problem:
        raise ApiError(400, "VALIDATION_ERROR", str(problem)) from None
    return ok({"silence": created}, status=201)


def _list_sync(conninfo: str, device: str | None, include_expired: bool) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return [s.to_json() for s in silences.list_silences(conn, device_id=device, include_expired=include_expired)]


@documented(
    query={
        "includeExpired": Query(str, "Also the silences that have ended.", enum=["true", "false", "1", "0"]),
        "deviceId": Query(str, "Only this device's silences (and those for every device).", maxLength=50),
    },
    responses={
        200: Reply(
            "The silences; meta.count.",
            data=obj({"silences": {"type": "array", "items": {"type": "object"}}}, ["silences"]),
        ),
        400: "A bad parameter (VALIDATION_ERROR).",
    },
)
async def list_silences(request: Request) -> JSONResponse:
    """List current and future silences, soonest ending first."""
    context: ServiceContext = request.app.state.context
    raw = (request.query_params.get("includeExpired") or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, "VALIDATION_ERROR", "'includeExpired' must be true or false", {"includeExpired": raw})
    device = _text("deviceId", request.query_params.get("deviceId"), 50)
    found = await run_in_threadpool(_list_sync, context.db.conninfo, device, raw in ("true", "1"))
    return ok({"silences": found}, {"count": len(found)})


def _delete_sync(conninfo: str, number: int) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return silences.delete_silence(conn, number)


@documented(
    path={"silence_id": "The silence's number."},
    responses={
        200: Reply("Deleted.", data=obj({"deleted": {"type": "integer"}}, ["deleted"])),
        404: "No such silence (SILENCE_NOT_FOUND).",
    },
)
async def delete_silence(request: Request) -> JSONResponse:
    """Delete a silence."""
    context: ServiceContext = request.app.state.context
    raw = request.path_params["silence_id"]
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 20 else -1
    if not 0 < number <= INT8_MAX or not await run_in_threadpool(_delete_sync, context.db.conninfo, number):
        raise ApiError(404, "SILENCE_NOT_FOUND", f"silence {raw!r} does not exist", {"id": raw})
    return ok({"deleted": number})
