"""Metrics and analytics: the dashboard's summary, system metrics, a device's trend with its forecast and time
to an alert limit, and the per-device per-day summary with MTTA/MTTR."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from starlette.requests import Request

from iotmon.core import stats
from iotmon.core.contracts.analytics import (
    Dashboard,
    DashboardDevice,
    DatabaseFigures,
    DeviceCounts,
    ProcessFigures,
    ReadingCounts,
    RedisFigures,
    Summary,
    SummaryMeta,
    SystemMetrics,
    Thresholds,
    TrendAnalysis,
    TrendMeta,
    ValueAt,
)
from iotmon.core.forecast import Fit, clamp, forecast, physical_bounds, time_to_threshold
from iotmon.core.timestamps import iso
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Query, Reply, documented
from iotmon.service.queries import analytics, devices, live
from iotmon.service.responses import ApiError, JSONResponse, ok
from iotmon.service.routes.devices import DEVICE_PATH, NOT_FOUND, device_row

Window = Literal["1h", "24h", "7d"]
TREND_WINDOWS: dict[str, int] = {"1h": 3600, "24h": 86_400, "7d": 7 * 86_400}
MAX_SUMMARY_DAYS = 90


@documented(
    query={"items": Query(bool, "false: the device counts without the list of every device.", default=True)},
    responses={200: Reply("Devices, readings per minute, alerts by severity with MTTA/MTTR, health.", data=Dashboard)},
)
async def dashboard(request: Request) -> JSONResponse:
    """The dashboard summary: what the overview page shows, in one answer.

    The devices are the fleet's states (GET /api/fleet's, at most a second old); `items=false` leaves out the
    list of every device, which a fleet of thousands does not need for its key figures."""
    context: ServiceContext = request.app.state.context
    with_items = request.query_params.get("items", "true").lower() not in ("false", "0")
    now = datetime.now(UTC)
    snapshot = await request.app.state.fleet.snapshot()
    found = snapshot.devices
    async with context.db.connection() as conn:
        # Every device's: readings of a device are refused from its decommissioning on.
        last_minute = await analytics.readings_between(conn, None, now - timedelta(minutes=1), now)
        overview = await analytics.alert_overview(conn, now - timedelta(hours=24))
    system = await live.system_metrics(context.redis)
    items = [
        DashboardDevice(
            device_id=device.device_id,
            name=device.name,
            type=device.type,
            location=device.location,
            unit=device.unit,
            status=device.status,
            alert_status=device.alert_status,
            value=device.value,
            reading_status=device.level,
            timestamp=device.timestamp,
        )
        for device in found
    ]
    counts = DeviceCounts(
        total=len(found),
        online=sum(device.status == "active" for device in found),
        offline=sum(device.status == "offline" for device in found),
        items=items if with_items else [],
    )
    readings = ReadingCounts(
        last_minute=last_minute,
        per_minute=last_minute,
        data_points_last_hour=system.data_points_last_hour if system else None,
    )
    health = system.system_health if system else None
    return ok(Dashboard(devices=counts, readings=readings, alerts=overview, system_health=health))


@documented(responses={200: Reply("system:metrics, the process, the database and Redis.", data=SystemMetrics)})
async def system_metrics(request: Request) -> JSONResponse:
    """System metrics: the system's figures, uptime, request rate, database and Redis sizes."""
    context: ServiceContext = request.app.state.context
    async with context.db.connection() as conn:
        size, connections = await analytics.sizes(conn)
    try:
        memory = await context.redis.info("memory")
        redis = RedisFigures(
            used_memory_bytes=int(memory["used_memory"]),
            used_memory_human=str(memory["used_memory_human"]),
            peak_memory_bytes=int(memory["used_memory_peak"]),
            keys=await context.redis.dbsize(),
        )
    except Exception as error:  # Redis down: report it, answer the rest
        redis = RedisFigures(error=f"{type(error).__name__}: {error}"[:200])
    figures = SystemMetrics(
        metrics=await live.system_metrics(context.redis),
        process=ProcessFigures(
            uptime_seconds=round(time.monotonic() - context.started_at),
            requests_per_minute=context.stats.per_minute(),
            error_rate=context.stats.error_rate(),
            transport=context.transport_name,
        ),
        database=DatabaseFigures(size_bytes=size, connections=connections),
        redis=redis,
    )
    return ok(figures)


@documented(
    path=DEVICE_PATH,
    query={
        "window": Query(str, "The window fitted (default 24h; 7d from the hourly rollups).", enum=list(TREND_WINDOWS))
    },
    responses={
        200: Reply(
            "Slope, trend, forecast at 15/30/60 min and time to the alert limits.", data=TrendAnalysis, meta=TrendMeta
        ),
        400: "A bad window (VALIDATION_ERROR).",
        404: NOT_FOUND,
    },
)
async def trends(request: Request) -> JSONResponse:
    """A device's trend: least-squares slope, trend, forecast and time to threshold."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    window = request.query_params.get("window") or "24h"
    if window not in TREND_WINDOWS:
        message = f"'window' must be one of {', '.join(TREND_WINDOWS)}"
        raise ApiError(400, "VALIDATION_ERROR", message, {"window": window})
    row = await device_row(context, device_id)
    now = datetime.now(UTC)
    window_s = TREND_WINDOWS[window]
    start = now - timedelta(seconds=window_s)
    async with context.db.connection() as conn:
        fit, source = await analytics.trend_fit(conn, device_id, start, now, hourly=window == "7d")
    line = _line(fit, hourly=source == "hourly")
    slope = line.slope if line is not None and line.significant else 0.0
    ranges = stats.Ranges(row["normal_min"], row["normal_max"])
    span = ranges.normal_span or ((fit["max"] - fit["min"]) if fit["n"] else None)
    last = row["last_timestamp"]
    analysis = TrendAnalysis(
        device_id=device_id,
        window=cast(Window, window),
        count=int(fit["n"] or 0),
        avg=None if fit["avg"] is None else round(fit["avg"], 4),
        min=fit["min"],
        max=fit["max"],
        slope_per_second=round(fit["slope"] or 0.0, 9),
        slope_per_hour=round((fit["slope"] or 0.0) * 3600, 6),
        trend=stats.trend(slope, window_s, span, t_stat=line.t_stat if line else 0.0) if fit["n"] else None,
        last_reading=None if last is None else ValueAt(value=row["last_value"], timestamp=iso(last)),
        forecast=[],
        time_to_threshold=None,
        thresholds=Thresholds(alert_min=row["alert_min"], alert_max=row["alert_max"]),
    )
    if line is not None:
        bounds = physical_bounds(row["unit"], row["physical_min"], row["physical_max"])
        fitted_now, _ = line.at(window_s)
        analysis.fitted_now = round(clamp(fitted_now, bounds), 4)
        analysis.forecast = forecast(line, window_s, now, bounds)
        analysis.time_to_threshold = time_to_threshold(fitted_now, slope, row["alert_min"], row["alert_max"], now)
    return ok(analysis, TrendMeta(source=cast(Literal["readings", "hourly"], source), from_=iso(start), to=iso(now)))


def _line(fit: dict[str, Any], *, hourly: bool) -> Fit | None:
    """The fitted line (None without two distinct times); hourly, it is fitted to the hours' means."""
    if fit.get("intercept") is None or fit.get("sxx") is None:
        return None
    n = int(fit["points"] if hourly else fit["n"])
    return Fit(n, fit["slope"], fit["intercept"], fit["mean_x"], fit["sxx"], fit["syy"], fit["sxy"])


@documented(
    query={"days": Query(int, "How many UTC days, today included.", minimum=1, maximum=MAX_SUMMARY_DAYS, default=7)},
    responses={
        200: Reply("Per device and day, and totals.", data=Summary, meta=SummaryMeta),
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
    async with context.db.connection() as conn:
        known = [row["device_id"] for row in await devices.rows(conn)]
        per_device, overall = await analytics.daily_summary(conn, known, start)
    answer = Summary(from_=first.isoformat(), to=today.isoformat(), days=days, devices=per_device, overall=overall)
    return ok(answer, SummaryMeta(days=days, from_=iso(start)))
