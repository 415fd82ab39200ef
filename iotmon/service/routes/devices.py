"""The device endpoints: the registry (register, change, list, decommission), details, current reading,
history (raw or downsampled, JSON or streamed CSV) and configuration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import msgspec
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from iotmon.adapters.postgres import registry
from iotmon.adapters.redis import device_state
from iotmon.core import downsample
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.contracts.devices import (
    ConfigChanged,
    ConfigChangedMeta,
    ConfigUpdate,
    Current,
    CurrentMeta,
    DeviceAnswer,
    DeviceCreate,
    DeviceDecommissioned,
    DeviceList,
    DeviceListMeta,
    DeviceUpdate,
    History,
    HistoryMeta,
    LiveValue,
)
from iotmon.core.contracts.validation import Invalid, convert_nested, given, listed, parse
from iotmon.core.devices import LIMIT_NAMES, check_limits
from iotmon.core.stats import Ranges, status
from iotmon.core.timestamps import iso
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.exports import stream_csv
from iotmon.service.openapi import FROM, TO, Query, Reply, documented
from iotmon.service.outbox_relay import after_moves
from iotmon.service.queries import devices, live
from iotmon.service.requests import body_as
from iotmon.service.responses import ApiError, JSONResponse, ok

HISTORY_DEFAULT_SPAN = timedelta(hours=1)
HISTORY_DEFAULT_LIMIT = 1000
HISTORY_MAX_LIMIT = 10_000
CSV_MAX_LIMIT = 100_000_000
DEVICE_PATH = {"device_id": "Device id, e.g. device-001."}
NOT_FOUND = "No such device (DEVICE_NOT_FOUND)."
B = TypeVar("B", DeviceCreate, DeviceUpdate)


def not_found(device_id: str) -> ApiError:
    return ApiError(404, "DEVICE_NOT_FOUND", f"device {device_id!r} does not exist", {"deviceId": device_id})


async def device_row(context: ServiceContext, device_id: str) -> devices.Row:
    async with context.db.connection() as conn:
        row = await devices.one(conn, device_id)
    if row is None:
        raise not_found(device_id)
    return row


LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 50, 500  # as the alerts list
LIST_MAX_OFFSET = 10_000_000


def _text_filter(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > 100 or "\x00" in raw:
        raise ApiError(
            400, "VALIDATION_ERROR", f"'{name}' must be at most 100 characters, without NUL", {name: raw[:200]}
        )
    return raw


@documented(
    query={
        "location": Query(str, "Only the devices at this location.", maxLength=100),
        "type": Query(str, "Only the devices of this type (e.g. temperature).", maxLength=100),
        "limit": Query(int, "Page size.", minimum=1, maximum=LIST_MAX_LIMIT, default=LIST_DEFAULT_LIMIT),
        "offset": Query(int, "Devices to skip.", minimum=0, maximum=LIST_MAX_OFFSET, default=0),
    },
    responses={
        200: Reply("A page of the devices in service, by id.", data=DeviceList, meta=DeviceListMeta),
        400: "A bad filter or paging value (VALIDATION_ERROR).",
    },
)
async def list_devices(request: Request) -> JSONResponse:
    """List the devices in service with their status, last reading, worst open alert, 24 h average and trend.

    Filtered by location and type, paged by limit and offset; meta counts every device that matches."""
    context: ServiceContext = request.app.state.context
    location, device_type = _text_filter(request, "location"), _text_filter(request, "type")
    limit = params.integer("limit", request.query_params.get("limit"), LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT)
    offset = params.integer("offset", request.query_params.get("offset"), 0, 0, LIST_MAX_OFFSET)
    async with context.db.connection() as conn:
        rows, total, active = await devices.page(conn, location, device_type, limit, offset)
    days = await live.stats(context.redis, [row["device_id"] for row in rows], "24h")
    now = datetime.now(UTC)
    found = [devices.device(row, day, now) for row, day in zip(rows, days, strict=True)]
    meta = DeviceListMeta(total_devices=total, active_devices=active, count=len(found), limit=limit, offset=offset)
    return ok(DeviceList(devices=found), meta)


@documented(path=DEVICE_PATH, responses={200: Reply("The device.", data=DeviceAnswer), 404: NOT_FOUND})
async def get_device(request: Request) -> JSONResponse:
    """A device: details, configuration, last reading, 1 h and 24 h statistics."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    row = await device_row(context, device_id)
    hour, day = await live.windows(context.redis, device_id)
    return ok(DeviceAnswer(device=devices.details(row, hour, day, datetime.now(UTC))))


@documented(
    path=DEVICE_PATH,
    responses={200: Reply("The current reading (null if none).", data=Current, meta=CurrentMeta), 404: NOT_FOUND},
)
async def current_reading(request: Request) -> JSONResponse:
    """A device's current reading.

    The aggregate function's live value in Redis (`device:<id>:current`), else the newest stored reading."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    row = await device_row(context, device_id)
    (reading,) = await live.current(context.redis, [device_id])
    source: Literal["redis", "database"] | None = "redis" if reading else None
    if reading is None and row["last_timestamp"] is not None:
        ranges = Ranges(row["normal_min"], row["normal_max"], row["alert_min"], row["alert_max"])
        value = row["last_value"]
        reading = LiveValue(
            value=value, timestamp=iso(row["last_timestamp"]), status=status(value, ranges), unit=row["unit"]
        )
        source = "database"
    now = datetime.now(UTC)
    answer = Current(device_id=device_id, current=reading, device_status=devices.status(row, now))
    return ok(answer, CurrentMeta(source=source))


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryQuery:
    """The parameters of /history and /history.csv."""

    device_id: str
    start: datetime
    end: datetime
    requested: str | None  # the resolution asked for; None: raw
    limit: int | None  # None: every point (CSV only)

    @classmethod
    def of(cls, request: Request, *, csv_export: bool = False) -> HistoryQuery:
        query = request.query_params
        end = params.timestamp("to", query.get("to"), datetime.now(UTC))
        start = params.timestamp("from", query.get("from"), end - HISTORY_DEFAULT_SPAN)
        if start > end:
            raise ApiError(
                400, "VALIDATION_ERROR", "'from' must not be after 'to'", {"from": iso(start), "to": iso(end)}
            )
        requested = query.get("resolution") or None
        if requested is not None and requested not in downsample.RESOLUTIONS:
            message = f"'resolution' must be one of {', '.join(downsample.RESOLUTIONS)}"
            raise ApiError(400, "VALIDATION_ERROR", message, {"resolution": requested})
        if csv_export:
            limit = params.integer("limit", query.get("limit"), 0, 1, CSV_MAX_LIMIT) if query.get("limit") else None
        else:
            default = HISTORY_DEFAULT_LIMIT if requested in (None, "raw") else downsample.MAX_POINTS
            limit = params.integer("limit", query.get("limit"), default, 1, HISTORY_MAX_LIMIT)
        return cls(request.path_params["device_id"], start, end, requested, limit)

    async def resolution(self, context: ServiceContext) -> str:
        """The resolution to serve (404 if there is no such device)."""
        async with context.db.connection() as conn:
            if not await devices.exists(conn, self.device_id, decommissioned=True):  # its history stays
                raise not_found(self.device_id)
            return await devices.resolution(conn, self.device_id, self.start, self.end, self.requested or "raw")


HISTORY_QUERY = {
    "from": FROM,
    "to": TO,
    "resolution": Query(
        str,
        "raw (default), 1m, 5m or 1h buckets, or auto: the finest within 2,000 points.",
        enum=list(downsample.RESOLUTIONS),
    ),
}
BAD_HISTORY = "A bad from, to, limit or resolution (VALIDATION_ERROR)."


@documented(
    path=DEVICE_PATH,
    query={
        **HISTORY_QUERY,
        "limit": Query(int, "At most this many points (the newest).", minimum=1, maximum=HISTORY_MAX_LIMIT),
    },
    responses={
        200: Reply("Readings or buckets, oldest first.", data=History, meta=HistoryMeta),
        400: BAD_HISTORY,
        404: NOT_FOUND,
    },
)
async def device_history(request: Request) -> JSONResponse:
    """A device's history: raw readings (default) or downsampled `resolution` buckets.

    From the last hour by default; buckets of 1 h come from the hourly rollups."""
    context: ServiceContext = request.app.state.context
    q = HistoryQuery.of(request)
    limit = q.limit or HISTORY_DEFAULT_LIMIT
    resolution = await q.resolution(context)
    async with context.db.connection() as conn:
        points = await devices.history(
            conn, devices.history_values(q.device_id, q.start, q.end, resolution, limit + 1), resolution
        )
    truncated = len(points) > limit
    readings = list(reversed(points[:limit]))
    meta = HistoryMeta(count=len(readings), from_=iso(q.start), to=iso(q.end), limit=limit, truncated=truncated)
    if q.requested is not None:
        meta.resolution, meta.requested_resolution = resolution, q.requested
    return ok(History(device_id=q.device_id, readings=readings), meta)


@documented(
    path=DEVICE_PATH,
    query={
        **HISTORY_QUERY,
        "limit": Query(int, "At most this many rows (default: all).", minimum=1, maximum=CSV_MAX_LIMIT),
    },
    responses={
        200: Reply(
            "CSV: timestamp, deviceId, value, unit, status (raw) or value, min, max, count (buckets).",
            media_type="text/csv",
        ),
        400: BAD_HISTORY,
        404: NOT_FOUND,
    },
)
async def history_csv(request: Request) -> StreamingResponse:
    """A device's history as CSV, streamed from a server-side cursor (the parameters of /history)."""
    context: ServiceContext = request.app.state.context
    q = HistoryQuery.of(request, csv_export=True)
    resolution = await q.resolution(context)
    values = devices.history_values(q.device_id, q.start, q.end, resolution, q.limit or CSV_MAX_LIMIT)
    oldest_first = f"SELECT * FROM ({devices.history_sql(resolution)}) s ORDER BY 1"
    if resolution == "raw":
        header = ["timestamp", "deviceId", "value", "unit", "status"]

        def row_of(row: tuple[Any, ...]) -> list[Any]:
            at, value, unit, state = row
            return [iso(at), q.device_id, value, unit, state]
    else:
        header = ["timestamp", "deviceId", "value", "min", "max", "count"]

        def row_of(row: tuple[Any, ...]) -> list[Any]:
            point = devices.bucket(*row)
            return [point.timestamp, q.device_id, point.value, point.min, point.max, point.count]

    filename = f"{q.device_id}-history.csv".replace('"', "")
    return StreamingResponse(
        stream_csv(context, oldest_first, values, header, row_of),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --------------------------------------------------------------------------- configuration


@documented(
    path=DEVICE_PATH,
    body=ConfigUpdate,
    responses={
        200: Reply("The device's new configuration.", data=ConfigChanged, meta=ConfigChangedMeta),
        400: "Unknown or invalid fields, or limits out of order (VALIDATION_ERROR, every problem in details).",
        404: NOT_FOUND,
    },
)
async def put_config(request: Request) -> JSONResponse:
    """Change a device's configuration: thresholds, normal range, offline timeout, anomaly sensitivity...

    Validated, written to `devices`; the rule engine re-reads it within seconds, without a restart."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    update = await body_as(request, ConfigUpdate)
    columns = {name: value.strip() if isinstance(value, str) else value for name, value in given(update).items()}
    if not columns:
        raise ApiError(400, "VALIDATION_ERROR", "nothing to update", {"allowed": sorted(_FIELDS.values())})
    async with context.db.connection() as conn:
        problems = await devices.update_config(conn, device_id, columns)
    if problems is None:
        raise not_found(device_id)
    if problems:
        message = "the limits must satisfy alertMin < normalMin < normalMax < alertMax"
        raise ApiError(400, "VALIDATION_ERROR", message, problems)
    row = await device_row(context, device_id)
    changed = ConfigChanged(
        device_id=device_id,
        name=row["name"],
        location=row["location"],
        status=row["status"],
        config=devices.config(row),
        updated_at=iso(row["updated_at"]) if row["updated_at"] else None,
    )
    return ok(changed, ConfigChangedMeta(updated=sorted(_FIELDS[column] for column in columns)))


_FIELDS = {field.name: field.encode_name for field in msgspec.structs.fields(ConfigUpdate)}


# --------------------------------------------------------------------------- the registry

REGISTRY_SOURCE = "/iotmon/api"
DEVICE_EXISTS = "A device in service already has this id (DEVICE_EXISTS)."
BAD_DEVICE = (
    "Unknown or invalid fields, inside config too, or limits out of order (VALIDATION_ERROR, every problem in details)."
)


def config_columns(update: ConfigUpdate | msgspec.UnsetType) -> dict[str, Any]:
    """The columns a configuration sets, text trimmed."""
    if isinstance(update, msgspec.UnsetType):
        return {}
    return {name: value.strip() if isinstance(value, str) else value for name, value in given(update).items()}


def _registration(outer: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The columns of a registration or change: the device's own fields and its configuration's, each given once."""
    if twice := sorted(name for name in outer.keys() & config.keys() if outer[name] != config[name]):
        problems = [
            {"field": f"config.{_FIELDS[name]}", "reason": f"'{_FIELDS[name]}' is given twice"} for name in twice
        ]
        raise ApiError(400, "VALIDATION_ERROR", "give each field once: outside config or inside it", problems)
    return {**config, **outer}


async def _registered(request: Request, contract: type[B]) -> B:
    body = await request.body()  # BodyLimit has bounded it
    try:
        return convert_nested(parse(body), contract, "config", ConfigUpdate)
    except Invalid as invalid:
        raise ApiError(400, "VALIDATION_ERROR", invalid.message, listed(invalid)) from None


async def _answer(context: ServiceContext, device_id: str, status: int = 200) -> JSONResponse:
    row = await device_row(context, device_id)
    hour, day = await live.windows(context.redis, device_id)
    return ok(DeviceAnswer(device=devices.details(row, hour, day, datetime.now(UTC))), status=status)


@documented(
    body=DeviceCreate,
    responses={
        201: Reply("The device, registered.", data=DeviceAnswer),
        400: BAD_DEVICE,
        409: DEVICE_EXISTS,
    },
)
async def create_device(request: Request) -> JSONResponse:
    """Register a device, optionally with its configuration, so that its limits apply from its first reading.

    Readings of devices that are not registered are refused. A decommissioned device's id can be registered
    again: it starts afresh, with its old history and alerts kept."""
    context: ServiceContext = request.app.state.context
    device = await _registered(request, DeviceCreate)
    own = {"device_type": device.type, "unit": device.unit, "location": device.location.strip()}
    if device.name is not None:
        own["name"] = device.name.strip()
    columns = _registration(own, config_columns(device.config))
    limits = {LIMIT_NAMES[name]: value for name, value in columns.items() if name in LIMIT_NAMES}
    if problems := check_limits(limits):
        message = "the limits must satisfy alertMin < normalMin < normalMax < alertMax"
        raise ApiError(400, "VALIDATION_ERROR", message, [{**p, "field": f"config.{p['field']}"} for p in problems])
    async with context.db.connection() as conn:
        created = await devices.create(conn, {"device_id": device.device_id, **columns})
    if not created:
        message = f"device {device.device_id!r} already exists: change it with PUT /api/devices/{device.device_id}"
        raise ApiError(409, "DEVICE_EXISTS", message, {"deviceId": device.device_id})
    return await _answer(context, device.device_id, status=201)


@documented(
    path=DEVICE_PATH,
    body=DeviceUpdate,
    responses={
        200: Reply("The device after the change.", data=DeviceAnswer),
        400: BAD_DEVICE,
        404: NOT_FOUND,
    },
)
async def update_device(request: Request) -> JSONResponse:
    """Change a device: its type, unit, location, name, and configuration as PUT /api/devices/{device_id}/config.

    The functions apply it within seconds, without a restart."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    change = await _registered(request, DeviceUpdate)
    own = {
        column: value.strip() if isinstance(value, str) else value
        for field, column in (("type", "device_type"), ("unit", "unit"), ("location", "location"), ("name", "name"))
        if (value := getattr(change, field)) is not msgspec.UNSET
    }
    columns = _registration(own, config_columns(change.config))
    if not columns:
        allowed = ["type", "unit", "location", "name", "config"]
        raise ApiError(400, "VALIDATION_ERROR", "nothing to update", {"allowed": allowed})
    async with context.db.connection() as conn:
        problems = await devices.update_config(conn, device_id, columns)
    if problems is None:
        raise not_found(device_id)
    if problems:
        message = "the limits must satisfy alertMin < normalMin < normalMax < alertMax"
        raise ApiError(400, "VALIDATION_ERROR", message, [{**p, "field": f"config.{p['field']}"} for p in problems])
    return await _answer(context, device_id)


def _decommission(pool: ConnectionPool, device_id: str, actor: str) -> tuple[datetime, list[AlertChange]] | None:
    at = datetime.now(UTC)
    with pool.connection() as conn:
        resolved = registry.decommission(conn, device_id, at=at, actor=actor, source=REGISTRY_SOURCE)
    return None if resolved is None else (at, resolved)


@documented(
    path=DEVICE_PATH,
    responses={
        200: Reply("The device, decommissioned, and the alerts resolved with it.", data=DeviceDecommissioned),
        404: NOT_FOUND,
    },
)
async def decommission_device(request: Request) -> JSONResponse:
    """Decommission a device: it leaves the lists and live views, its open alerts are resolved, and its readings
    are refused from now on. Its history and alerts stay; registering its id again brings it back."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    actor = getattr(getattr(request.state, "user", None), "name", "anonymous")
    done = None if "\x00" in device_id else await run_in_threadpool(_decommission, context.pool, device_id, actor)
    if done is None:
        raise not_found(device_id)
    at, resolved = done
    await after_moves(context)
    await device_state.forget(context.redis, device_id)
    answer = DeviceDecommissioned(
        device_id=device_id, decommissioned_at=iso(at), resolved_alerts=[change.alert_id for change in resolved]
    )
    return ok(answer)
