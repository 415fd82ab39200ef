"""The device endpoints (architecture §4.5): list, details, current reading, history (raw or
downsampled, JSON or streamed CSV) and configuration."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from starlette.requests import Request
from starlette.responses import StreamingResponse

from iotmon.adapters.redis import keys
from iotmon.core import downsample
from iotmon.core.alerts import OPEN_STATUSES
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.exports import stream_csv
from iotmon.service.openapi import FROM, TO, Query, Reply, documented, obj
from iotmon.service.responses import ApiError, JSONResponse, iso, ok

HISTORY_DEFAULT_SPAN = timedelta(hours=1)
HISTORY_DEFAULT_LIMIT = 1000
HISTORY_MAX_LIMIT = 10_000
CSV_MAX_LIMIT = 100_000_000

_DEVICES_SQL = """
SELECT d.device_id, d.name, d.device_type, d.location, d.unit, d.status,
       d.normal_min::float8, d.normal_max::float8, d.alert_min::float8, d.alert_max::float8,
       d.update_period_ms, d.offline_timeout_s,
       d.anomaly_sensitivity, d.trend_horizon_s, d.breach_count, d.clear_after_s, d.hysteresis_pct,
       d.created_at, d.updated_at,
       last.value::float8 AS last_value, last.timestamp AS last_timestamp,
       last.status AS last_status,
       (SELECT a.severity FROM alerts a
         WHERE a.device_id = d.device_id AND a.status = ANY(%(open)s)
         ORDER BY array_position(ARRAY['critical','high','medium','low'], a.severity::text) LIMIT 1) AS alert_severity
FROM devices d
LEFT JOIN LATERAL (
  SELECT value, timestamp, status FROM sensor_readings s
  WHERE s.device_id = d.device_id ORDER BY timestamp DESC LIMIT 1
) last ON true
{where}
ORDER BY d.device_id
"""


async def _redis_json(context: ServiceContext, names: list[str]) -> list[Any]:
    """Values the aggregate function keeps in Redis (JSON strings); None where absent."""
    if not names:
        return []
    try:
        raw = await context.redis.mget(names)
    except Exception:  # Redis down: the API still answers from PostgreSQL
        return [None] * len(names)
    found = []
    for value in raw:
        try:
            found.append(json.loads(value) if value else None)
        except ValueError:
            found.append(None)
    return found


async def device_rows(context: ServiceContext, device_id: str | None = None) -> list[dict[str, Any]]:
    """Every device (or one) with its last reading and worst open alert."""
    where = "WHERE d.device_id = %(device)s" if device_id is not None else ""
    async with context.db.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(_DEVICES_SQL.format(where=where), {"open": list(OPEN_STATUSES), "device": device_id})
        return await cursor.fetchall()


async def one_device(context: ServiceContext, device_id: str) -> dict[str, Any]:
    if "\x00" in device_id:  # PostgreSQL text cannot hold NUL: no such device
        raise not_found(device_id)
    rows = await device_rows(context, device_id)
    if not rows:
        raise not_found(device_id)
    return rows[0]


def not_found(device_id: str) -> ApiError:
    return ApiError(404, "DEVICE_NOT_FOUND", f"device {device_id!r} does not exist", {"deviceId": device_id})


def _status(row: dict[str, Any], now: datetime) -> str:
    if row["status"] != "active":
        return row["status"]
    last = row["last_timestamp"]
    if last is None or now - last > timedelta(seconds=row["offline_timeout_s"]):
        return "offline"
    return "active"


def config_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "normalMin": row["normal_min"],
        "normalMax": row["normal_max"],
        "alertMin": row["alert_min"],
        "alertMax": row["alert_max"],
        "updatePeriodMs": row["update_period_ms"],
        "offlineTimeoutS": row["offline_timeout_s"],
        "anomalySensitivity": row.get("anomaly_sensitivity"),
        "trendHorizonS": row.get("trend_horizon_s"),
        "breachCount": row.get("breach_count"),
        "clearAfterS": row.get("clear_after_s"),
        "hysteresisPct": row.get("hysteresis_pct"),
    }


def device_summary(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What every answer says of a device: who it is, its status and its worst open alert."""
    return {
        "deviceId": row["device_id"],
        "name": row["name"],
        "type": row["device_type"],
        "location": row["location"],
        "unit": row["unit"],
        "status": _status(row, now),
        "alertStatus": row["alert_severity"] or "normal",
    }


def device_json(row: dict[str, Any], stats_24h: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    last = row["last_timestamp"]
    return {
        **device_summary(row, now),
        "lastReading": None if last is None else {"value": row["last_value"], "timestamp": iso(last)},
        "stats": {
            "avg24h": (stats_24h or {}).get("avg"),
            "trend": (stats_24h or {}).get("trend"),
        },
        "config": config_json(row),
    }


@documented(
    responses={
        200: Reply(
            "Every device; meta has totalDevices and activeDevices.",
            data=obj({"devices": {"type": "array", "items": {"type": "object"}}}, ["devices"]),
        )
    }
)
async def list_devices(request: Request) -> JSONResponse:
    """List the devices with their status, last reading, worst open alert, 24 h average and trend."""
    context: ServiceContext = request.app.state.context
    rows = await device_rows(context)
    stats = await _redis_json(context, [keys.stats(row["device_id"], "24h") for row in rows])
    now = datetime.now(UTC)
    devices = [device_json(row, stat, now) for row, stat in zip(rows, stats)]
    meta = {"totalDevices": len(devices), "activeDevices": sum(d["status"] == "active" for d in devices)}
    return ok({"devices": devices}, meta)


def device_detail(row: dict[str, Any], stats_1h: Any, stats_24h: Any, now: datetime) -> dict[str, Any]:
    device = device_json(row, stats_24h if isinstance(stats_24h, dict) else None, now)
    device["configuredStatus"] = row["status"]
    device["lastReading"] = (
        None
        if row["last_timestamp"] is None
        else {"value": row["last_value"], "timestamp": iso(row["last_timestamp"]), "status": row["last_status"]}
    )
    device["stats"].update({"1h": stats_1h, "24h": stats_24h})
    device["createdAt"] = iso(row["created_at"]) if row["created_at"] else None
    device["updatedAt"] = iso(row["updated_at"]) if row["updated_at"] else None
    return device


@documented(
    path={"device_id": "Device id, e.g. device-001."},
    responses={
        200: Reply("The device.", data=obj({"device": {"type": "object"}}, ["device"])),
        404: "No such device (DEVICE_NOT_FOUND).",
    },
)
async def get_device(request: Request) -> JSONResponse:
    """A device: details, configuration, last reading, 1 h and 24 h statistics."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    row = await one_device(context, device_id)
    stats_1h, stats_24h = await _redis_json(context, [keys.stats(device_id, "1h"), keys.stats(device_id, "24h")])
    return ok({"device": device_detail(row, stats_1h, stats_24h, datetime.now(UTC))})


@documented(
    path={"device_id": "Device id, e.g. device-001."},
    responses={
        200: Reply(
            "The current reading (null if none); meta.source is redis or database.",
            data=obj(
                {"deviceId": {"type": "string"}, "current": {"type": ["object", "null"]}}, ["deviceId", "current"]
            ),
        ),
        404: "No such device (DEVICE_NOT_FOUND).",
    },
)
async def current_reading(request: Request) -> JSONResponse:
    """A device's current reading.

    The aggregate function's live value in Redis (`device:<id>:current`), else the newest stored reading."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    row = await one_device(context, device_id)
    (live,) = await _redis_json(context, [keys.current(device_id)])
    if isinstance(live, dict) and "value" in live:
        reading = {
            "value": live.get("value"),
            "timestamp": live.get("timestamp"),
            "status": live.get("status"),
            "unit": live.get("unit", row["unit"]),
        }
        source = "redis"
    elif row["last_timestamp"] is not None:
        reading = {
            "value": row["last_value"],
            "timestamp": iso(row["last_timestamp"]),
            "status": row["last_status"],
            "unit": row["unit"],
        }
        source = "database"
    else:
        reading, source = None, None
    data = {"deviceId": device_id, "current": reading, "deviceStatus": _status(row, datetime.now(UTC))}
    return ok(data, {"source": source})


# --------------------------------------------------------------------------- history


class HistoryQuery:
    """The parsed parameters of /history and /history.csv."""

    def __init__(self, request: Request, *, csv_export: bool = False) -> None:
        query = request.query_params
        self.device_id: str = request.path_params["device_id"]
        self.end = params.timestamp("to", query.get("to"), datetime.now(UTC))
        self.start = params.timestamp("from", query.get("from"), self.end - HISTORY_DEFAULT_SPAN)
        if self.start > self.end:
            raise ApiError(
                400, "VALIDATION_ERROR", "'from' must not be after 'to'", {"from": iso(self.start), "to": iso(self.end)}
            )
        raw_resolution = query.get("resolution")
        if raw_resolution not in (None, "") and raw_resolution not in downsample.RESOLUTIONS:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"'resolution' must be one of {', '.join(downsample.RESOLUTIONS)}",
                {"resolution": raw_resolution},
            )
        self.requested: str | None = raw_resolution or None
        self.csv = csv_export
        if csv_export:
            self.limit: int | None = (
                params.integer("limit", query.get("limit"), 0, 1, CSV_MAX_LIMIT) if query.get("limit") else None
            )
        else:
            default = HISTORY_DEFAULT_LIMIT if self.requested in (None, "raw") else downsample.MAX_POINTS
            self.limit = params.integer("limit", query.get("limit"), default, 1, HISTORY_MAX_LIMIT)


_RAW_SQL = (
    "SELECT timestamp, value::float8, unit, status FROM sensor_readings"
    " WHERE device_id = %s AND timestamp >= %s AND timestamp <= %s ORDER BY timestamp DESC LIMIT %s"
)
_BUCKET_SQL = """
SELECT date_bin(%(step)s::interval, timestamp, 'epoch'::timestamptz) AS bucket,
       avg(value)::float8, min(value)::float8, max(value)::float8, count(*)
FROM sensor_readings
WHERE device_id = %(device)s AND timestamp >= %(from)s AND timestamp <= %(to)s
GROUP BY bucket ORDER BY bucket DESC LIMIT %(limit)s
"""
_HOURLY_SQL = """
SELECT hour_timestamp, avg_value::float8, min_value::float8, max_value::float8, count_readings
FROM device_stats_hourly
WHERE device_id = %(device)s AND hour_timestamp >= date_trunc('hour', %(from)s::timestamptz)
  AND hour_timestamp <= %(to)s
ORDER BY hour_timestamp DESC LIMIT %(limit)s
"""


async def _exists(conn: Any, device_id: str) -> None:
    if (
        "\x00" in device_id
        or await (await conn.execute("SELECT 1 FROM devices WHERE device_id = %s", (device_id,))).fetchone() is None
    ):
        raise not_found(device_id)


async def _resolve(conn: Any, q: HistoryQuery) -> str:
    """The resolution to serve: as asked, or for `auto` the finest within MAX_POINTS."""
    if q.requested != "auto":
        return q.requested or "raw"
    cap = downsample.MAX_POINTS
    raw_count = (
        await (
            await conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM sensor_readings WHERE device_id = %s"
                " AND timestamp >= %s AND timestamp <= %s LIMIT %s) s",
                (q.device_id, q.start, q.end, cap + 1),
            )
        ).fetchone()
    )[0]
    return downsample.choose(raw_count, (q.end - q.start).total_seconds(), cap)


def _point(bucket: datetime, avg: float | None, low: float | None, high: float | None, count: int | None) -> dict:
    return {
        "timestamp": iso(bucket),
        "value": None if avg is None else round(avg, 4),
        "min": low,
        "max": high,
        "count": count,
    }


HISTORY_QUERY = {
    "from": FROM,
    "to": TO,
    "resolution": Query(
        str,
        "raw (default), 1m, 5m or 1h buckets, or auto: the finest within 2,000 points.",
        enum=list(downsample.RESOLUTIONS),
    ),
}


@documented(
    path={"device_id": "Device id, e.g. device-001."},
    query={
        **HISTORY_QUERY,
        "limit": Query(int, "At most this many points (the newest).", minimum=1, maximum=HISTORY_MAX_LIMIT),
    },
    responses={
        200: Reply(
            "Readings or buckets, oldest first; meta has count, from, to, limit, truncated (and resolution).",
            data=obj(
                {"deviceId": {"type": "string"}, "readings": {"type": "array", "items": {"type": "object"}}},
                ["deviceId", "readings"],
            ),
        ),
        400: "A bad from, to, limit or resolution (VALIDATION_ERROR).",
        404: "No such device (DEVICE_NOT_FOUND).",
    },
)
async def device_history(request: Request) -> JSONResponse:
    """A device's history: raw readings (default) or downsampled `resolution` buckets.

    From the last hour by default; buckets of 1 h come from the hourly rollups."""
    context: ServiceContext = request.app.state.context
    q = HistoryQuery(request)
    limit = q.limit or HISTORY_DEFAULT_LIMIT
    async with context.db.connection() as conn:
        await _exists(conn, q.device_id)
        resolution = await _resolve(conn, q)
        if resolution == "raw":
            rows = await (await conn.execute(_RAW_SQL, (q.device_id, q.start, q.end, limit + 1))).fetchall()
        else:
            sql = _HOURLY_SQL if resolution == "1h" else _BUCKET_SQL
            values = {
                "device": q.device_id,
                "from": q.start,
                "to": q.end,
                "limit": limit + 1,
                "step": timedelta(seconds=downsample.STEP_S[resolution]),
            }
            rows = await (await conn.execute(sql, values)).fetchall()
    truncated = len(rows) > limit
    rows = list(reversed(rows[:limit]))
    if resolution == "raw":
        readings = [
            {"timestamp": iso(ts), "value": value, "unit": unit, "status": status} for ts, value, unit, status in rows
        ]
    else:
        readings = [_point(*row) for row in rows]
    meta: dict[str, Any] = {
        "count": len(readings),
        "from": iso(q.start),
        "to": iso(q.end),
        "limit": limit,
        "truncated": truncated,
    }
    if q.requested is not None:
        meta["resolution"] = resolution
        meta["requestedResolution"] = q.requested
    return ok({"deviceId": q.device_id, "readings": readings}, meta)


@documented(
    path={"device_id": "Device id, e.g. device-001."},
    query={
        **HISTORY_QUERY,
        "limit": Query(int, "At most this many rows (default: all).", minimum=1, maximum=CSV_MAX_LIMIT),
    },
    responses={
        200: Reply(
            "CSV: timestamp, deviceId, value, unit, status (raw) or value, min, max, count (buckets).",
            media_type="text/csv",
        ),
        400: "A bad from, to, limit or resolution (VALIDATION_ERROR).",
        404: "No such device (DEVICE_NOT_FOUND).",
    },
)
async def history_csv(request: Request) -> StreamingResponse:
    """A device's history as CSV, streamed from a server-side cursor (the parameters of /history)."""
    context: ServiceContext = request.app.state.context
    q = HistoryQuery(request, csv_export=True)
    async with context.db.connection() as conn:
        await _exists(conn, q.device_id)
        resolution = await _resolve(conn, q)
    limit = q.limit or CSV_MAX_LIMIT
    values = {
        "device": q.device_id,
        "from": q.start,
        "to": q.end,
        "limit": limit,
        "step": timedelta(seconds=downsample.STEP_S.get(resolution, 60)),
    }
    if resolution == "raw":
        header = ["timestamp", "deviceId", "value", "unit", "status"]
        sql = (
            "SELECT * FROM (SELECT timestamp, device_id, value::float8, unit, status FROM sensor_readings"
            " WHERE device_id = %(device)s AND timestamp >= %(from)s AND timestamp <= %(to)s"
            " ORDER BY timestamp DESC LIMIT %(limit)s) s ORDER BY timestamp"
        )
    else:
        header = ["timestamp", "deviceId", "value", "min", "max", "count"]
        inner = _HOURLY_SQL if resolution == "1h" else _BUCKET_SQL
        sql = f"SELECT b.*, %(device)s AS device FROM ({inner}) b ORDER BY 1"

    def format_row(row: tuple) -> list[Any]:
        if resolution == "raw":
            ts, device, value, unit, status = row
            return [iso(ts), device, value, unit, status]
        ts, avg, low, high, count, device = row
        return [iso(ts), device, None if avg is None else round(avg, 4), low, high, count]

    filename = f"{q.device_id}-history.csv".replace('"', "")
    return StreamingResponse(
        stream_csv(context, sql, values, header, format_row),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --------------------------------------------------------------------------- configuration

DECIMAL_LIMIT = 99_999_999.99  # DECIMAL(10,2)


def _number(
    name: str,
    value: Any,
    *,
    low: float = -DECIMAL_LIMIT,
    high: float = DECIMAL_LIMIT,
    low_open: bool = False,
    nullable: bool = False,
) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'{name}' must be a number" + (" or null" if nullable else ""))
    if value < low or value > high or (low_open and value == low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"'{name}' must be {bound} and <= {high}")
    return float(value)


def _integer(name: str, value: Any, low: int, high: int, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer" + (" or null" if nullable else ""))
    if not low <= value <= high:
        raise ValueError(f"'{name}' must be between {low} and {high}")
    return value


def _text(name: str, value: Any, high: int, *, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ValueError(f"'{name}' must be a non-empty string (without NUL)")
    if len(value) > high:
        raise ValueError(f"'{name}' must be at most {high} characters")
    return value.strip()


def _status_value(name: str, value: Any) -> str:
    if value not in ("active", "inactive", "maintenance"):
        raise ValueError(f"'{name}' must be one of active, inactive, maintenance")
    return value


# field → (column, validator)
CONFIG_FIELDS: dict[str, tuple[str, Any]] = {
    "normalMin": ("normal_min", lambda n, v: _number(n, v, nullable=True)),
    "normalMax": ("normal_max", lambda n, v: _number(n, v, nullable=True)),
    "alertMin": ("alert_min", lambda n, v: _number(n, v, nullable=True)),
    "alertMax": ("alert_max", lambda n, v: _number(n, v, nullable=True)),
    "offlineTimeoutS": ("offline_timeout_s", lambda n, v: _integer(n, v, 1, 7 * 86_400)),
    "anomalySensitivity": ("anomaly_sensitivity", lambda n, v: _number(n, v, low=0, high=100, low_open=True)),
    "trendHorizonS": ("trend_horizon_s", lambda n, v: _integer(n, v, 1, 7 * 86_400)),
    "breachCount": ("breach_count", lambda n, v: _integer(n, v, 1, 10_000)),
    "clearAfterS": ("clear_after_s", lambda n, v: _integer(n, v, 0, 7 * 86_400)),
    "hysteresisPct": ("hysteresis_pct", lambda n, v: _number(n, v, low=0, high=100)),
    "updatePeriodMs": ("update_period_ms", lambda n, v: _integer(n, v, 1, 86_400_000, nullable=True)),
    "name": ("name", lambda n, v: _text(n, v, 100, nullable=True)),
    "location": ("location", lambda n, v: _text(n, v, 100, nullable=False)),
    "status": ("status", _status_value),
}


def validate_config(body: Any) -> dict[str, Any]:
    """The columns to set from a PUT body, or a 400 listing every problem (pure)."""
    if not isinstance(body, dict):
        raise ApiError(400, "VALIDATION_ERROR", "the body must be a JSON object of configuration fields")
    unknown = sorted(set(body) - set(CONFIG_FIELDS))
    if unknown:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"unknown field(s): {', '.join(unknown)}",
            {"unknown": unknown, "allowed": sorted(CONFIG_FIELDS)},
        )
    if not body:
        raise ApiError(400, "VALIDATION_ERROR", "nothing to update", {"allowed": sorted(CONFIG_FIELDS)})
    columns, problems = {}, []
    for field, value in body.items():
        column, check = CONFIG_FIELDS[field]
        try:
            columns[column] = check(field, value)
        except ValueError as problem:
            problems.append({"field": field, "reason": str(problem)})
    if problems:
        raise ApiError(400, "VALIDATION_ERROR", f"{len(problems)} invalid field(s)", problems)
    return columns


def check_ranges(merged: dict[str, Any]) -> list[dict[str, str]]:
    """alertMin < normalMin < normalMax < alertMax, for the bounds that are set (pure)."""
    order = [
        ("alertMin", "alert_min"),
        ("normalMin", "normal_min"),
        ("normalMax", "normal_max"),
        ("alertMax", "alert_max"),
    ]
    given = [(name, merged[column]) for name, column in order if merged.get(column) is not None]
    problems = []
    for i, (low_name, low) in enumerate(given):
        for high_name, high in given[i + 1 :]:
            if not low < high:
                problems.append(
                    {"field": high_name, "reason": f"'{low_name}' ({low}) must be below '{high_name}' ({high})"}
                )
    return problems


_NUMBER_OR_NULL = {"type": ["number", "null"], "minimum": -DECIMAL_LIMIT, "maximum": DECIMAL_LIMIT}
CONFIG_BODY = obj(
    {
        "normalMin": _NUMBER_OR_NULL,
        "normalMax": _NUMBER_OR_NULL,
        "alertMin": _NUMBER_OR_NULL,
        "alertMax": _NUMBER_OR_NULL,
        "offlineTimeoutS": {"type": "integer", "minimum": 1, "maximum": 7 * 86_400},
        "anomalySensitivity": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
        "trendHorizonS": {"type": "integer", "minimum": 1, "maximum": 7 * 86_400},
        "breachCount": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "clearAfterS": {"type": "integer", "minimum": 0, "maximum": 7 * 86_400},
        "hysteresisPct": {"type": "number", "minimum": 0, "maximum": 100},
        "updatePeriodMs": {"type": ["integer", "null"], "minimum": 1, "maximum": 86_400_000},
        "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 100},
        "location": {"type": "string", "minLength": 1, "maxLength": 100},
        "status": {"enum": ["active", "inactive", "maintenance"]},
    },
    minProperties=1,
    additionalProperties=False,
    description="Any of the fields; set bounds must satisfy alertMin < normalMin < normalMax < alertMax.",
)


@documented(
    path={"device_id": "Device id, e.g. device-001."},
    body=CONFIG_BODY,
    responses={
        200: Reply(
            "The device's new configuration; meta.updated lists the fields set.",
            data=obj({"deviceId": {"type": "string"}, "config": {"type": "object"}}, ["deviceId", "config"]),
        ),
        400: "Unknown or invalid fields, or ranges out of order (VALIDATION_ERROR, every problem in details).",
        404: "No such device (DEVICE_NOT_FOUND).",
        413: "The body is over 64 KiB.",
    },
)
async def put_config(request: Request) -> JSONResponse:
    """Change a device's configuration: thresholds, normal range, offline timeout, anomaly sensitivity...

    Validated, written to `devices`; the rule engine re-reads it within seconds, without a restart."""
    from iotmon.service.alerts import read_json  # shared body parsing

    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    columns = validate_config(await read_json(request))
    async with context.db.connection() as conn, conn.transaction():
        cursor = conn.cursor(row_factory=dict_row)
        if "\x00" in device_id:
            raise not_found(device_id)
        current = await (
            await cursor.execute(
                "SELECT normal_min::float8, normal_max::float8, alert_min::float8, alert_max::float8"
                " FROM devices WHERE device_id = %s FOR UPDATE",
                (device_id,),
            )
        ).fetchone()
        if current is None:
            raise not_found(device_id)
        problems = check_ranges({**current, **columns})
        if problems:
            raise ApiError(
                400, "VALIDATION_ERROR", "the ranges must satisfy alertMin < normalMin < normalMax < alertMax", problems
            )
        sets = ", ".join(f"{column} = %({column})s" for column in columns)
        await conn.execute(
            f"UPDATE devices SET {sets}, updated_at = now() WHERE device_id = %(device)s",
            {**columns, "device": device_id},
        )
    row = await one_device(context, device_id)
    device = device_detail(row, None, None, datetime.now(UTC))
    data = {
        "deviceId": device_id,
        "name": device["name"],
        "location": device["location"],
        "status": row["status"],
        "config": device["config"],
        "updatedAt": device["updatedAt"],
    }
    return ok(data, {"updated": sorted(_fields_of(columns))})


def _fields_of(columns: dict[str, Any]) -> list[str]:
    by_column = {column: field for field, (column, _check) in CONFIG_FIELDS.items()}
    return [by_column[column] for column in columns]
