"""GET /api/devices and GET /api/devices/{id}/history (architecture §4.5)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg.rows import dict_row
from starlette.requests import Request

from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.responses import ApiError, JSONResponse, iso, ok

HISTORY_DEFAULT_SPAN = timedelta(hours=1)
HISTORY_DEFAULT_LIMIT = 1000
HISTORY_MAX_LIMIT = 10_000
OPEN_ALERT_STATES = ("active", "triggered", "acknowledged", "escalated")

_DEVICES_SQL = """
SELECT d.device_id, d.name, d.device_type, d.location, d.unit, d.status,
       d.normal_min::float8, d.normal_max::float8, d.alert_min::float8, d.alert_max::float8,
       d.update_period_ms, d.offline_timeout_s,
       last.value::float8 AS last_value, last.timestamp AS last_timestamp,
       (SELECT a.severity FROM alerts a
         WHERE a.device_id = d.device_id AND a.status = ANY(%(open)s)
         ORDER BY array_position(ARRAY['critical','high','medium','low'], a.severity::text) LIMIT 1) AS alert_severity
FROM devices d
LEFT JOIN LATERAL (
  SELECT value, timestamp FROM sensor_readings s
  WHERE s.device_id = d.device_id ORDER BY timestamp DESC LIMIT 1
) last ON true
ORDER BY d.device_id
"""


async def _redis_json(context: ServiceContext, keys: list[str]) -> list[Any]:
    """Values the aggregate function keeps in Redis (JSON strings); None where absent."""
    if not keys:
        return []
    try:
        raw = await context.redis.mget(keys)
    except Exception:  # Redis down: the API still answers from PostgreSQL
        return [None] * len(keys)
    return [json.loads(value) if value else None for value in raw]


def _status(row: dict[str, Any], now: datetime) -> str:
    if row["status"] != "active":
        return row["status"]
    last = row["last_timestamp"]
    if last is None or now - last > timedelta(seconds=row["offline_timeout_s"]):
        return "offline"
    return "active"


def device_json(row: dict[str, Any], stats_24h: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    last = row["last_timestamp"]
    return {
        "deviceId": row["device_id"],
        "name": row["name"],
        "type": row["device_type"],
        "location": row["location"],
        "unit": row["unit"],
        "status": _status(row, now),
        "lastReading": None if last is None else {"value": row["last_value"], "timestamp": iso(last)},
        "alertStatus": row["alert_severity"] or "normal",
        "stats": {
            "avg24h": (stats_24h or {}).get("avg"),
            "trend": (stats_24h or {}).get("trend"),
        },
        "config": {
            "normalMin": row["normal_min"],
            "normalMax": row["normal_max"],
            "alertMin": row["alert_min"],
            "alertMax": row["alert_max"],
            "updatePeriodMs": row["update_period_ms"],
            "offlineTimeoutS": row["offline_timeout_s"],
        },
    }


async def list_devices(request: Request) -> JSONResponse:
    context: ServiceContext = request.app.state.context
    async with context.db.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        rows = await (await cursor.execute(_DEVICES_SQL, {"open": list(OPEN_ALERT_STATES)})).fetchall()
    stats = await _redis_json(context, [f"device:{row['device_id']}:stats:24h" for row in rows])
    now = datetime.now(timezone.utc)
    devices = [device_json(row, stat, now) for row, stat in zip(rows, stats)]
    meta = {"totalDevices": len(devices), "activeDevices": sum(d["status"] == "active" for d in devices)}
    return ok({"devices": devices}, meta)


async def device_history(request: Request) -> JSONResponse:
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    query = request.query_params
    end = params.timestamp("to", query.get("to"), datetime.now(timezone.utc))
    start = params.timestamp("from", query.get("from"), end - HISTORY_DEFAULT_SPAN)
    limit = params.integer("limit", query.get("limit"), HISTORY_DEFAULT_LIMIT, 1, HISTORY_MAX_LIMIT)
    if start > end:
        raise ApiError(400, "VALIDATION_ERROR", "'from' must not be after 'to'", {"from": iso(start), "to": iso(end)})
    async with context.db.connection() as conn:
        if await (await conn.execute("SELECT 1 FROM devices WHERE device_id = %s", (device_id,))).fetchone() is None:
            raise ApiError(404, "DEVICE_NOT_FOUND", f"device {device_id!r} does not exist", {"deviceId": device_id})
        rows = await (
            await conn.execute(
                # The newest `limit` readings of the range, returned oldest first for charts.
                "SELECT timestamp, value::float8, unit, status FROM sensor_readings"
                " WHERE device_id = %s AND timestamp >= %s AND timestamp <= %s"
                " ORDER BY timestamp DESC LIMIT %s",
                (device_id, start, end, limit + 1),  # one more tells whether the range was cut
            )
        ).fetchall()
    truncated = len(rows) > limit
    readings = [
        {"timestamp": iso(ts), "value": value, "unit": unit, "status": status} for ts, value, unit, status in reversed(rows[:limit])
    ]
    meta = {"count": len(readings), "from": iso(start), "to": iso(end), "limit": limit, "truncated": truncated}
    return ok({"deviceId": device_id, "readings": readings}, meta)
