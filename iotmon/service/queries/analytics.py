"""Aggregates in PostgreSQL for the API: alert figures, readings per minute, a device's trend, the daily summary."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from iotmon.core.alerts import OPEN_STATUSES, SEVERITIES
from iotmon.core.contracts.analytics import (
    AlertOverview,
    BySeverity,
    DeviceSummaryDays,
    ResponseTimes,
    SummaryDay,
    Totals,
)


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


async def alert_overview(conn: AsyncConnection[Any], since: datetime) -> AlertOverview:
    """Open alerts by severity, and MTTA / MTTR (s) of the alerts triggered since `since`."""
    cursor = conn.cursor(row_factory=dict_row)
    rows = await (
        await cursor.execute(
            "SELECT severity, count(*) AS n FROM alerts WHERE status = ANY(%s) GROUP BY severity",
            (list(OPEN_STATUSES),),
        )
    ).fetchall()
    counts = dict.fromkeys(SEVERITIES, 0) | {row["severity"]: row["n"] for row in rows}
    times = (
        await (
            await cursor.execute(
                "SELECT count(*) AS triggered,"
                " avg(extract(epoch FROM acknowledged_at - triggered_at)) AS mtta, count(acknowledged_at) AS acknowledged,"
                " avg(extract(epoch FROM resolved_at - triggered_at)) AS mttr, count(resolved_at) AS resolved"
                " FROM alerts WHERE triggered_at >= %s",
                (since,),
            )
        ).fetchone()
        or {}
    )
    return AlertOverview(
        open=sum(counts.values()),
        by_severity=BySeverity(
            critical=counts["critical"], high=counts["high"], medium=counts["medium"], low=counts["low"]
        ),
        triggered24h=times["triggered"],
        acknowledged24h=times["acknowledged"],
        resolved24h=times["resolved"],
        mtta_seconds_24h=_seconds(times["mtta"]),
        mttr_seconds_24h=_seconds(times["mttr"]),
    )


async def readings_between(
    conn: AsyncConnection[Any], devices: list[str] | None, start: datetime, end: datetime
) -> int:
    """Readings stored in (start, end] of these devices (None: of every device)."""
    if devices is None:
        cursor = await conn.execute(
            "SELECT count(*) FROM sensor_readings WHERE timestamp > %s AND timestamp <= %s", (start, end)
        )
    else:
        cursor = await conn.execute(
            "SELECT count(*) FROM sensor_readings WHERE device_id = ANY(%s) AND timestamp > %s AND timestamp <= %s",
            (devices, start, end),
        )
    (count,) = await cursor.fetchone() or (0,)
    return int(count)


async def sizes(conn: AsyncConnection[Any]) -> tuple[int, int]:
    """The database's size in bytes and its connections."""
    cursor = await conn.execute(
        "SELECT pg_database_size(current_database()),"
        " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())"
    )
    size, connections = await cursor.fetchone() or (0, 0)
    return int(size), int(connections)


# --------------------------------------------------------------------------- trends

_TREND_RAW = """
SELECT count(*) AS n, regr_slope(v, x) AS slope, regr_intercept(v, x) AS intercept,
       regr_avgx(v, x) AS mean_x, regr_sxx(v, x) AS sxx, regr_syy(v, x) AS syy, regr_sxy(v, x) AS sxy,
       avg(v) AS avg, min(v) AS min, max(v) AS max, sum(1) AS points
FROM (SELECT value::float8 AS v, extract(epoch FROM timestamp - %(from)s)::float8 AS x
      FROM sensor_readings WHERE device_id = %(device)s AND timestamp >= %(from)s AND timestamp <= %(to)s) s
"""
_TREND_HOURLY = """
SELECT coalesce(sum(count_readings), 0) AS n, regr_slope(v, x) AS slope, regr_intercept(v, x) AS intercept,
       regr_avgx(v, x) AS mean_x, regr_sxx(v, x) AS sxx, regr_syy(v, x) AS syy, regr_sxy(v, x) AS sxy,
       sum(v * count_readings) / nullif(sum(count_readings), 0) AS avg, min(min_value)::float8 AS min,
       max(max_value)::float8 AS max, count(*) AS points
FROM (SELECT avg_value::float8 AS v, extract(epoch FROM hour_timestamp + interval '30 minutes' - %(from)s)::float8 AS x,
             count_readings, min_value, max_value
      FROM device_stats_hourly WHERE device_id = %(device)s AND hour_timestamp >= %(from)s AND hour_timestamp <= %(to)s) s
"""


async def trend_fit(
    conn: AsyncConnection[Any], device_id: str, start: datetime, end: datetime, hourly: bool
) -> tuple[dict[str, Any], str]:
    """The least-squares fit of a device's values over [start, end] (x in seconds from start), and its source:
    the hourly rollups when asked and there are any, else the readings."""
    values = {"device": device_id, "from": start, "to": end}
    cursor = conn.cursor(row_factory=dict_row)
    if hourly:
        fit = await (await cursor.execute(_TREND_HOURLY, values)).fetchone()
        if fit and fit["points"]:
            return fit, "hourly"
    return await (await cursor.execute(_TREND_RAW, values)).fetchone() or {}, "readings"


# --------------------------------------------------------------------------- the daily summary

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
    """Sums behind a mean time to acknowledge and to resolve."""

    def __init__(self) -> None:
        self.ack_sum = self.res_sum = 0.0
        self.ack_n = self.res_n = 0

    def add(self, row: dict[str, Any]) -> None:
        self.ack_sum += float(row["ack_sum"] or 0)
        self.ack_n += row["ack_n"]
        self.res_sum += float(row["res_sum"] or 0)
        self.res_n += row["res_n"]

    def means(self) -> ResponseTimes:
        return ResponseTimes(
            mtta_seconds=round(self.ack_sum / self.ack_n, 1) if self.ack_n else None,
            mttr_seconds=round(self.res_sum / self.res_n, 1) if self.res_n else None,
        )


class _Day:
    def __init__(self, day: date) -> None:
        self.day, self.readings, self.times = day, 0, _Times()
        self.avg: float | None = None
        self.min: float | None = None
        self.max: float | None = None
        self.alerts: dict[str, int] = {}

    def summary(self) -> SummaryDay:
        means = self.times.means()
        return SummaryDay(
            date=self.day.isoformat(),
            readings=self.readings,
            avg=self.avg,
            min=self.min,
            max=self.max,
            alerts=self.alerts,
            alerts_total=sum(self.alerts.values()),
            mtta_seconds=means.mtta_seconds,
            mttr_seconds=means.mttr_seconds,
        )


async def daily_summary(
    conn: AsyncConnection[Any], known: list[str], start: datetime
) -> tuple[list[DeviceSummaryDays], Totals]:
    """Per device (the known ones, then any other with data) and UTC day since `start`: readings from the hourly
    rollups and alerts by type, with MTTA and MTTR; and the totals."""
    cursor = conn.cursor(row_factory=dict_row)
    reading_rows = await (await cursor.execute(_SUMMARY_READINGS, {"from": start})).fetchall()
    alert_rows = await (await cursor.execute(_SUMMARY_ALERTS, {"from": start})).fetchall()
    days: dict[str, dict[date, _Day]] = defaultdict(dict)
    for row in reading_rows:
        entry = days[row["device_id"]].setdefault(row["day"], _Day(row["day"]))
        entry.readings = int(row["n"] or 0)
        entry.avg = None if row["avg"] is None else round(float(row["avg"]), 4)
        entry.min, entry.max = row["min"], row["max"]
    device_times: dict[str, _Times] = defaultdict(_Times)
    overall = _Times()
    for row in alert_rows:
        entry = days[row["device_id"]].setdefault(row["day"], _Day(row["day"]))
        entry.alerts[row["alert_type"]] = entry.alerts.get(row["alert_type"], 0) + row["n"]
        for times in (entry.times, device_times[row["device_id"]], overall):
            times.add(row)
    devices = []
    for device in known + sorted(set(days) - set(known)):
        entries = [days[device][day].summary() for day in sorted(days.get(device, {}))]
        means = device_times[device].means()
        totals = Totals(
            readings=sum(e.readings for e in entries),
            alerts=sum(e.alerts_total for e in entries),
            mtta_seconds=means.mtta_seconds,
            mttr_seconds=means.mttr_seconds,
        )
        devices.append(DeviceSummaryDays(device_id=device, days=entries, totals=totals))
    means = overall.means()
    total = Totals(
        readings=sum(d.totals.readings for d in devices),
        alerts=sum(d.totals.alerts for d in devices),
        mtta_seconds=means.mtta_seconds,
        mttr_seconds=means.mttr_seconds,
    )
    return devices, total
