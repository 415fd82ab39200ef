"""The device endpoints: list, details, current reading, history (raw or downsampled, JSON or streamed CSV)
and configuration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import StreamingResponse

from iotmon.core import downsample
from iotmon.core.contracts.devices import (
    ConfigChanged,
    ConfigChangedMeta,
    ConfigUpdate,
    Current,
    CurrentMeta,
    DeviceAnswer,
    DeviceList,
    DeviceListMeta,
    History,
    HistoryMeta,
    LiveValue,
)
from iotmon.core.contracts.validation import given
from iotmon.core.stats import Ranges, status
from iotmon.core.timestamps import iso
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.exports import stream_csv
from iotmon.service.openapi import FROM, TO, Query, Reply, documented
from iotmon.service.queries import devices, live
from iotmon.service.requests import body_as
from iotmon.service.responses import ApiError, JSONResponse, ok

HISTORY_DEFAULT_SPAN = timedelta(hours=1)
HISTORY_DEFAULT_LIMIT = 1000
HISTORY_MAX_LIMIT = 10_000
CSV_MAX_LIMIT = 100_000_000
DEVICE_PATH = {"device_id": "Device id, e.g. device-001."}
NOT_FOUND = "No such device (DEVICE_NOT_FOUND)."


def not_found(device_id: str) -> ApiError:
    return ApiError(404, "DEVICE_NOT_FOUND", f"device {device_id!r} does not exist", {"deviceId": device_id})


async def device_row(context: ServiceContext, device_id: str) -> devices.Row:
    async with context.db.connection() as conn:
        row = await devices.one(conn, device_id)
    if row is None:
        raise not_found(device_id)
    return row


@documented(responses={200: Reply("Every device.", data=DeviceList, meta=DeviceListMeta)})
async def list_devices(request: Request) -> JSONResponse:
    """List the devices with their status, last reading, worst open alert, 24 h average and trend."""
    context: ServiceContext = request.app.state.context
    async with context.db.connection() as conn:
        rows = await devices.rows(conn)
    days = await live.stats(context.redis, [row["device_id"] for row in rows], "24h")
    now = datetime.now(UTC)
    found = [devices.device(row, day, now) for row, day in zip(rows, days, strict=True)]
    meta = DeviceListMeta(total_devices=len(found), active_devices=sum(d.status == "active" for d in found))
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
            if not await devices.exists(conn, self.device_id):
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
        413: "The body is over 64 KiB.",
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
