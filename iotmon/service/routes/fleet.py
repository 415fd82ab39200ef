"""The fleet endpoints: the overview of every device (counts by state and location, search, filters, a page of the
list) and the fleet's analytics (trends, forecasts and hourly means), each one request whatever the fleet's size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from starlette.requests import Request

from iotmon.core import fleet
from iotmon.core.contracts.devices import WindowStats
from iotmon.core.contracts.fleet import (
    Fleet,
    FleetAnalytics,
    FleetAnalyticsMeta,
    FleetDevice,
    FleetMeta,
    FleetTrend,
)
from iotmon.core.forecast import time_to_threshold
from iotmon.core.timestamps import iso
from iotmon.service import params
from iotmon.service.fleet import FleetView
from iotmon.service.openapi import Query, Reply, documented
from iotmon.service.queries import fleet as queries
from iotmon.service.responses import ApiError, JSONResponse, ok
from iotmon.service.routes.devices import _text_filter

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_OFFSET = 10_000_000
ANALYTICS_DEFAULT_LIMIT, ANALYTICS_MAX_LIMIT = 50, 200
MAX_HOURS = 168


def _states(request: Request) -> frozenset[str]:
    raw = request.query_params.get("status") or ""
    asked = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if unknown := asked - set(fleet.STATES):
        message = f"'status' takes a comma list of {', '.join(fleet.STATES)}"
        raise ApiError(400, "VALIDATION_ERROR", message, {"status": ",".join(sorted(unknown))[:200]})
    return asked


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in choices:
        raise ApiError(400, "VALIDATION_ERROR", f"'{name}' must be one of {', '.join(choices)}", {name: value[:200]})
    return value


def _search(request: Request) -> fleet.Search:
    return fleet.Search(
        text=_text_filter(request, "q"),
        states=_states(request),
        type=_text_filter(request, "type"),
        location=_text_filter(request, "location"),
        sort=cast(fleet.Sort, _choice(request, "sort", fleet.SORTS, "status")),
    )


FILTERS = {
    "q": Query(str, "Devices whose id, name, type or location contains this (any case).", maxLength=100),
    "status": Query(str, "A comma list of states: normal, warning, critical, offline."),
    "type": Query(str, "Only the devices of this type.", maxLength=100),
    "location": Query(str, "Only the devices at this location.", maxLength=100),
}


@documented(
    query={
        **FILTERS,
        "sort": Query(str, "status: the worst first (default); id.", enum=list(fleet.SORTS)),
        "limit": Query(int, "Page size.", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
        "offset": Query(int, "Devices to skip.", minimum=0, maximum=MAX_OFFSET, default=0),
    },
    responses={
        200: Reply("Counts, groups, types and a page of the devices that match.", data=Fleet, meta=FleetMeta),
        400: "A bad filter or paging value (VALIDATION_ERROR).",
    },
)
async def get_fleet(request: Request) -> JSONResponse:
    """The fleet at a glance: every device's state counted overall and per location, and a page of the list.

    A device's state is offline when it is silent beyond its offline timeout, else its latest value's level. The
    states are taken at most once a second for every client (PostgreSQL and one Redis MGET, never per device);
    counts and groups are the whole fleet's, the search and filters narrow the list."""
    asked = _search(request)
    limit = params.integer("limit", request.query_params.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = params.integer("offset", request.query_params.get("offset"), 0, 0, MAX_OFFSET)
    view: FleetView = request.app.state.fleet
    snapshot = await view.snapshot()
    found = snapshot.search(asked)
    page = found[offset : offset + limit]
    answer = Fleet(totals=snapshot.totals, groups=snapshot.groups, types=snapshot.types, devices=page)
    meta = FleetMeta(
        matched=len(found), count=len(page), limit=limit, offset=offset, computed_at=iso(snapshot.taken_at)
    )
    return ok(answer, meta)


@documented(
    query={
        **FILTERS,
        "sort": Query(str, "risk: the soonest to cross an alert limit first (default); id.", enum=["risk", "id"]),
        "hours": Query(int, "Hourly means of the last hours.", minimum=1, maximum=MAX_HOURS, default=24),
        "limit": Query(
            int, "Devices at most.", minimum=1, maximum=ANALYTICS_MAX_LIMIT, default=ANALYTICS_DEFAULT_LIMIT
        ),
    },
    responses={
        200: Reply("Trends and hourly means of the devices.", data=FleetAnalytics, meta=FleetAnalyticsMeta),
        400: "A bad filter or value (VALIDATION_ERROR).",
    },
)
async def fleet_analytics(request: Request) -> JSONResponse:
    """The fleet's analytics in one answer: each device's 24 h window and trend, the value the trend reaches in an
    hour, when it crosses an alert limit, and its hourly means (from the hourly rollups).

    The devices that match, the nearest to an alert limit first (already past one: first of all), at most `limit`."""
    asked = _search(request)
    sort = _choice(request, "sort", ("risk", "id"), "risk")
    hours = params.integer("hours", request.query_params.get("hours"), 24, 1, MAX_HOURS)
    limit = params.integer("limit", request.query_params.get("limit"), ANALYTICS_DEFAULT_LIMIT, 1, ANALYTICS_MAX_LIMIT)
    view: FleetView = request.app.state.fleet
    snapshot = await view.snapshot()
    rows = {row.device_id: row for row in snapshot.rows}
    found = snapshot.search(fleet.Search(asked.text, asked.states, asked.type, asked.location, "id"))
    context = view.context
    now = datetime.now(UTC)
    days = await queries.day_stats(context.redis, [device.device_id for device in found])
    trends = [_trend(device, rows[device.device_id], day, now) for device, day in zip(found, days, strict=True)]
    if sort == "risk":
        trends.sort(key=_risk)
    chosen = trends[:limit]
    first_hour = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    starts = [first_hour + timedelta(hours=i) for i in range(hours)]
    async with context.db.connection() as conn:
        means = await queries.hourly_means(conn, [trend.device_id for trend in chosen], first_hour)
    for trend in chosen:
        trend.hourly = [means[trend.device_id].get(start) for start in starts]
    answer = FleetAnalytics(hours=[iso(start) for start in starts], devices=chosen)
    meta = FleetAnalyticsMeta(
        matched=len(found),
        count=len(chosen),
        limit=limit,
        sort=cast(Literal["risk", "id"], sort),
        computed_at=iso(snapshot.taken_at),
    )
    return ok(answer, meta)


def _risk(trend: FleetTrend) -> tuple[float, str]:
    crossing = trend.time_to_threshold
    return (crossing.seconds if crossing is not None else float("inf"), trend.device_id)


def _trend(device: FleetDevice, row: queries.Row, stats: WindowStats | None, now: datetime) -> FleetTrend:
    slope = stats.slope if stats is not None and stats.slope is not None else None
    significant = slope if stats is not None and stats.trend != "stable" and slope is not None else 0.0
    value = device.value
    crossing = None
    forecast = None
    if value is not None and device.state != "offline":
        crossing = time_to_threshold(value, significant, row.alert_min, row.alert_max, now)
        forecast = round(value + significant * 3600, 4)
    return FleetTrend(
        device_id=device.device_id,
        type=device.type,
        location=device.location,
        unit=device.unit,
        normal_min=row.normal_min,
        normal_max=row.normal_max,
        avg=stats.avg if stats else None,
        min=stats.min if stats else None,
        max=stats.max if stats else None,
        trend=stats.trend if stats else None,
        slope_per_hour=None if slope is None else round(slope * 3600, 6),
        value=value,
        forecast60=forecast,
        time_to_threshold=crossing,
        hourly=[],
    )
