"""Metrics and analytics (architecture §4.5): the dashboard summary, system metrics, a device's
trend with forecast and time to threshold, and the per-device per-day summary with MTTA/MTTR."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from starlette.requests import Request

from iotmon.adapters.redis import keys
from iotmon.core import stats
from iotmon.core.alerts import OPEN_STATUSES, SEVERITIES
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.devices import _redis_json, device_rows, device_summary, one_device
from iotmon.service.openapi import Query, Reply, documented, obj
from iotmon.service.responses import ApiError, JSONResponse, iso, ok

TREND_WINDOWS = {"1h": 3600, "24h": 86_400, "7d": 7 * 86_400}
FORECAST_MINUTES = (15, 30, 60)
THRESHOLD_HORIZON_S = 7 * 86_400  # a crossing further out than this is reported as null
MAX_SUMMARY_DAYS = 90


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


async def alert_overview(conn: Any, since: datetime) -> dict[str, Any]:
    """Open alerts by severity, and MTTA / MTTR (s) of the alerts triggered since `since`."""
    cursor = conn.cursor(row_factory=dict_row)
    rows = await (
        await cursor.execute(
            "SELECT severity, count(*) AS n FROM alerts WHERE status = ANY(%s) GROUP BY severity",
            (list(OPEN_STATUSES),),
        )
    ).fetchall()
    by_severity = dict.fromkeys(reversed(SEVERITIES), 0) | {row["severity"]: row["n"] for row in rows}
    times = await (
        await cursor.execute(
            "SELECT count(*) AS triggered,"
            " avg(extract(epoch FROM acknowledged_at - triggered_at)) AS mtta, count(acknowledged_at) AS acknowledged,"
            " avg(extract(epoch FROM resolved_at - triggered_at)) AS mttr, count(resolved_at) AS resolved"
            " FROM alerts WHERE triggered_at >= %s",
            (since,),
        )
    ).fetchone()
    return {
        "open": sum(by_severity.values()),
        "bySeverity": by_severity,
        "triggered24h": times["triggered"],
        "acknowledged24h": times["acknowledged"],
        "resolved24h": times["resolved"],
        "mttaSeconds24h": _seconds(times["mtta"]),
        "mttrSeconds24h": _seconds(times["mttr"]),
    }


@documented(
    responses={
        200: Reply(
            "Devices, readings per minute, alerts by severity with MTTA/MTTR, system health.",
            data=obj(
                {"devices": {"type": "object"}, "readings": {"type": "object"}, "alerts": {"type": "object"}},
                ["devices", "readings", "alerts"],
            ),
        )
    },
)
async def dashboard(request: Request) -> JSONResponse:
    """The dashboard summary: what the overview page shows, in one answer."""
    context: ServiceContext = request.app.state.context
    now = datetime.now(UTC)
    rows = await device_rows(context)
    ids = [row["device_id"] for row in rows]
    live = await _redis_json(context, [keys.current(device) for device in ids] + [keys.SYSTEM_METRICS])
    currents, system = live[:-1], live[-1]
    async with context.db.connection() as conn:
        last_minute = (
            await (
                await conn.execute(
                    "SELECT count(*) FROM sensor_readings WHERE device_id = ANY(%s) AND timestamp > %s AND timestamp <= %s",
                    (ids, now - timedelta(minutes=1), now),
                )
            ).fetchone()
        )[0]
        overview = await alert_overview(conn, now - timedelta(hours=24))
    devices = []
    for row, current in zip(rows, currents):
        current = current if isinstance(current, dict) else None
        devices.append(
            {
                **device_summary(row, now),
                "value": current.get("value") if current else row["last_value"],
                "readingStatus": current.get("status") if current else row["last_status"],
                "timestamp": current.get("timestamp")
                if current
                else (iso(row["last_timestamp"]) if row["last_timestamp"] else None),
            }
        )
    system = system if isinstance(system, dict) else {}
    data = {
        "devices": {
            "total": len(devices),
            "online": sum(d["status"] == "active" for d in devices),
            "offline": sum(d["status"] == "offline" for d in devices),
            "items": devices,
        },
        "readings": {
            "lastMinute": last_minute,
            "perMinute": last_minute,
            "dataPointsLastHour": system.get("dataPointsLastHour"),
        },
        "alerts": overview,
        "systemHealth": system.get("systemHealth"),
    }
    return ok(data)


@documented(
    responses={
        200: Reply(
            "system:metrics, the process, the database and Redis.",
            data=obj(
                {"process": {"type": "object"}, "database": {"type": "object"}, "redis": {"type": "object"}},
                ["process", "database", "redis"],
            ),
        )
    },
)
async def system_metrics(request: Request) -> JSONResponse:
    """System metrics: the seed's `system:metrics`, uptime, request rate, database and Redis sizes."""
    context: ServiceContext = request.app.state.context
    (metrics,) = await _redis_json(context, [keys.SYSTEM_METRICS])
    async with context.db.connection() as conn:
        size, connections = await (
            await conn.execute(
                "SELECT pg_database_size(current_database()),"
                " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())"
            )
        ).fetchone()
    redis_info: dict[str, Any] = {}
    try:
        memory = await context.redis.info("memory")
        redis_info = {
            "usedMemoryBytes": memory.get("used_memory"),
            "usedMemoryHuman": memory.get("used_memory_human"),
            "peakMemoryBytes": memory.get("used_memory_peak"),
            "keys": await context.redis.dbsize(),
        }
    except Exception as error:  # Redis down: report it, answer the rest
        redis_info = {"error": f"{type(error).__name__}: {error}"[:200]}
    data = {
        "metrics": metrics if isinstance(metrics, dict) else None,
        "process": {
            "uptimeSeconds": round(time.monotonic() - context.started_at),
            "requestsPerMinute": context.stats.per_minute(),
            "errorRate": context.stats.error_rate(),
            "transport": context.transport_name,
        },
        "database": {"sizeBytes": size, "connections": connections},
        "redis": redis_info,
    }
    return ok(data)


# --------------------------------------------------------------------------- trends

_TREND_RAW = """
SELECT count(*) AS n, regr_slope(v, x) AS slope, regr_intercept(v, x) AS intercept,
       avg(v) AS avg, min(v) AS min, max(v) AS max, sum(1) AS points
FROM (SELECT value::float8 AS v, extract(epoch FROM timestamp - %(from)s)::float8 AS x
      FROM sensor_readings WHERE device_id = %(device)s AND timestamp >= %(from)s AND timestamp <= %(to)s) s
"""
_TREND_HOURLY = """
SELECT coalesce(sum(count_readings), 0) AS n, regr_slope(v, x) AS slope, regr_intercept(v, x) AS intercept,
       sum(v * count_readings) / nullif(sum(count_readings), 0) AS avg, min(min_value)::float8 AS min,
       max(max_value)::float8 AS max, count(*) AS points
FROM (SELECT avg_value::float8 AS v, extract(epoch FROM hour_timestamp + interval '30 minutes' - %(from)s)::float8 AS x,
             count_readings, min_value, max_value
      FROM device_stats_hourly WHERE device_id = %(device)s AND hour_timestamp >= %(from)s AND hour_timestamp <= %(to)s) s
"""


def time_to_threshold(
    fitted_now: float, slope: float, alert_min: float | None, alert_max: float | None, now: datetime
) -> dict[str, Any] | None:
    """When the regression line crosses alertMax (rising) or alertMin (falling); None if never within the horizon (pure)."""
    for bound, value, going in (("alertMax", alert_max, 1), ("alertMin", alert_min, -1)):
        if value is None:
            continue
        beyond = fitted_now >= value if going > 0 else fitted_now <= value
        if beyond:
            return {"threshold": bound, "value": value, "seconds": 0.0, "at": iso(now)}
        if slope * going > 0:
            seconds = (value - fitted_now) / slope
            if 0 <= seconds <= THRESHOLD_HORIZON_S:
                return {
                    "threshold": bound,
                    "value": value,
                    "seconds": round(seconds, 1),
                    "at": iso(now + timedelta(seconds=seconds)),
                }
    return None


@documented(
    path={"device_id": "Device id, e.g. device-001."},
    query={
        "window": Query(str, "The window fitted (default 24h; 7d from the hourly rollups).", enum=list(TREND_WINDOWS))
    },
    responses={
        200: Reply(
            "Slope, trend, forecast at 15/30/60 min and time to the alert thresholds; meta.source.",
            data=obj(
                {"deviceId": {"type": "string"}, "window": {"type": "string"}, "forecast": {"type": "array"}},
                ["deviceId", "window", "forecast"],
            ),
        ),
        400: "A bad window (VALIDATION_ERROR).",
        404: "No such device (DEVICE_NOT_FOUND).",
    },
)
async def trends(request: Request) -> JSONResponse:
    """A device's trend: least-squares slope, trend, forecast and time to threshold."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    window = request.query_params.get("window") or "24h"
    if window not in TREND_WINDOWS:
        raise ApiError(
            400, "VALIDATION_ERROR", f"'window' must be one of {', '.join(TREND_WINDOWS)}", {"window": window}
        )
    row = await one_device(context, device_id)
    now = datetime.now(UTC)
    window_s = TREND_WINDOWS[window]
    values = {"device": device_id, "from": now - timedelta(seconds=window_s), "to": now}
    source = "readings"
    async with context.db.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        fit = None
        if window == "7d":
            fit = await (await cursor.execute(_TREND_HOURLY, values)).fetchone()
            source = "hourly"
        if fit is None or not fit["points"]:
            fit = await (await cursor.execute(_TREND_RAW, values)).fetchone()
            source = "readings"
    slope = fit["slope"] or 0.0
    normal_span = (
        row["normal_max"] - row["normal_min"]
        if row["normal_min"] is not None and row["normal_max"] is not None
        else None
    )
    span = normal_span or ((fit["max"] - fit["min"]) if fit["n"] else None)
    data: dict[str, Any] = {
        "deviceId": device_id,
        "window": window,
        "count": int(fit["n"] or 0),
        "avg": None if fit["avg"] is None else round(fit["avg"], 4),
        "min": fit["min"],
        "max": fit["max"],
        "slopePerSecond": round(slope, 9),
        "slopePerHour": round(slope * 3600, 6),
        "trend": stats.trend(slope, window_s, span) if fit["n"] else None,
        "lastReading": None
        if row["last_timestamp"] is None
        else {"value": row["last_value"], "timestamp": iso(row["last_timestamp"])},
        "forecast": [],
        "timeToThreshold": None,
        "thresholds": {"alertMin": row["alert_min"], "alertMax": row["alert_max"]},
    }
    if fit["intercept"] is not None:
        x_now = float(window_s)
        fitted_now = fit["intercept"] + slope * x_now
        data["fittedNow"] = round(fitted_now, 4)
        data["forecast"] = [
            {
                "minutes": minutes,
                "timestamp": iso(now + timedelta(minutes=minutes)),
                "value": round(fitted_now + slope * minutes * 60, 4),
            }
            for minutes in FORECAST_MINUTES
        ]
        data["timeToThreshold"] = time_to_threshold(fitted_now, slope, row["alert_min"], row["alert_max"], now)
    return ok(data, {"source": source, "from": iso(values["from"]), "to": iso(now)})


# --------------------------------------------------------------------------- summary

_SUMMARY_READINGS = """
SELECT device_id, (hour_timestamp AT TIME ZONE 'UTC')::date AS day,
       sum(count_readings) AS n, sum(avg_value * count_readings) / nullif(sum(count_readings), 0) AS avg,
       min(min_value)::float8 AS min, max(max_value)::float8 AS max
FROM device_stats_hourly WHERE hour_timestamp >= %(from)s GROUP BY 1, 2
"""
_SUMMARY_ALERTS = """
SELECT device_id, (triggered_at AT TIME ZONE 'UTC')::date AS day, alert_type, count(*) AS n,
       sum(extract(epoch FROM acknowledged_at - triggered_at)) AS ack_sum, count(acknowledged_at) AS ack_n,
       sum(extract(epoch FROM resolved_at - triggered_at)) AS res_sum, count(resolved_at) AS res_n
FROM alerts WHERE triggered_at >= %(from)s GROUP BY 1, 2, 3
"""


class _Times:
    def __init__(self) -> None:
        self.ack_sum = self.res_sum = 0.0
        self.ack_n = self.res_n = 0

    def add(self, row: dict[str, Any]) -> None:
        self.ack_sum += float(row["ack_sum"] or 0)
        self.ack_n += row["ack_n"]
        self.res_sum += float(row["res_sum"] or 0)
        self.res_n += row["res_n"]

    def json(self) -> dict[str, Any]:
        return {
            "mttaSeconds": round(self.ack_sum / self.ack_n, 1) if self.ack_n else None,
            "mttrSeconds": round(self.res_sum / self.res_n, 1) if self.res_n else None,
        }


@documented(
    query={"days": Query(int, "How many UTC days, today included.", minimum=1, maximum=MAX_SUMMARY_DAYS, default=7)},
    responses={
        200: Reply(
            "Per device and day, and totals.",
            data=obj({"devices": {"type": "array"}, "overall": {"type": "object"}}, ["devices", "overall"]),
        ),
        400: "A bad days (VALIDATION_ERROR).",
    },
)
async def summary(request: Request) -> JSONResponse:
    """Analytics summary: per device and UTC day, readings and alerts by type with MTTA and MTTR.

    Readings come from the hourly rollups; totals per device and overall."""
    context: ServiceContext = request.app.state.context
    days = params.integer("days", request.query_params.get("days"), 7, 1, MAX_SUMMARY_DAYS)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    device_list = await device_rows(context)
    async with context.db.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        reading_rows = await (await cursor.execute(_SUMMARY_READINGS, {"from": start})).fetchall()
        alert_rows = await (await cursor.execute(_SUMMARY_ALERTS, {"from": start})).fetchall()
    per_day: dict[tuple[str, date], dict[str, Any]] = {}

    def day_of(device: str, day: date) -> dict[str, Any]:
        key = (device, day)
        if key not in per_day:
            per_day[key] = {
                "date": day.isoformat(),
                "readings": 0,
                "avg": None,
                "min": None,
                "max": None,
                "alerts": {},
                "alertsTotal": 0,
                "_times": _Times(),
            }
        return per_day[key]

    for row in reading_rows:
        entry = day_of(row["device_id"], row["day"])
        entry.update(
            readings=int(row["n"] or 0),
            avg=None if row["avg"] is None else round(float(row["avg"]), 4),
            min=row["min"],
            max=row["max"],
        )
    device_times: dict[str, _Times] = defaultdict(_Times)
    overall_times, overall_alerts = _Times(), 0
    for row in alert_rows:
        entry = day_of(row["device_id"], row["day"])
        entry["alerts"][row["alert_type"]] = entry["alerts"].get(row["alert_type"], 0) + row["n"]
        entry["alertsTotal"] += row["n"]
        entry["_times"].add(row)
        device_times[row["device_id"]].add(row)
        overall_times.add(row)
        overall_alerts += row["n"]
    known = [row["device_id"] for row in device_list]
    extra = sorted({device for device, _day in per_day} - set(known))
    devices = []
    overall_readings = 0
    for device in known + extra:
        entries = sorted((entry for (d, _), entry in per_day.items() if d == device), key=lambda e: e["date"])
        for entry in entries:
            entry.update(entry.pop("_times").json())
        readings = sum(entry["readings"] for entry in entries)
        overall_readings += readings
        devices.append(
            {
                "deviceId": device,
                "days": entries,
                "totals": {
                    "readings": readings,
                    "alerts": sum(entry["alertsTotal"] for entry in entries),
                    **device_times[device].json(),
                },
            }
        )
    data = {
        "from": first.isoformat(),
        "to": today.isoformat(),
        "days": days,
        "devices": devices,
        "overall": {"readings": overall_readings, "alerts": overall_alerts, **overall_times.json()},
    }
    return ok(data, {"days": days, "from": iso(start)})
