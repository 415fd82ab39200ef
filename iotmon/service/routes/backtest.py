"""POST /api/devices/{device_id}/backtest: what a device's rules would have raised over recorded readings.

The readings — the device's stored history, or an uploaded CSV — go through
the same rule code as evaluate-rule (`iotmon.core.backtest`), from a fresh
state, under the device's configuration or a candidate one laid over it.
Nothing is written: no alert, no notification, no change to the device.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from iotmon.core import backtest, recorded
from iotmon.core.contracts.backtest import Backtest, BacktestRequest, DayCount, WouldBeAlert
from iotmon.core.contracts.devices import ConfigUpdate
from iotmon.core.contracts.validation import Invalid, convert_nested, listed, parse
from iotmon.core.devices import check_limits
from iotmon.core.rules import DeviceRules
from iotmon.core.timestamps import iso
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Reply, documented
from iotmon.service.queries import devices
from iotmon.service.responses import ApiError, JSONResponse, ok
from iotmon.service.routes.devices import DEVICE_PATH, NOT_FOUND, config_columns, device_row

DEFAULT_SPAN = timedelta(days=7)
MAX_READINGS = 1_000_000  # ~30 s of judging at most; a longer run is judged in parts
MAX_ALERTS = 1_000  # listed one by one (all are counted)


@documented(
    path=DEVICE_PATH,
    body=BacktestRequest,
    body_required=False,
    responses={
        200: Reply("The alerts the rules would have raised, with counts per day and type.", data=Backtest),
        400: "A bad body, configuration (limits out of order), range or CSV (VALIDATION_ERROR).",
        404: NOT_FOUND,
    },
)
async def backtest_device(request: Request) -> JSONResponse:
    """Run a device's rules — its configuration, or a candidate laid over it — over its stored readings (the
    last 7 days by default) or an uploaded CSV, and answer the alerts they would have raised. No side effects."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    asked = await _asked(request)
    row = await device_row(context, device_id)
    merged = {**row, **config_columns(asked.config)}
    if problems := check_limits({name: merged[column] for column, name in devices.LIMIT_NAMES.items()}):
        raise ApiError(
            400, "VALIDATION_ERROR", "the limits must satisfy alertMin < normalMin < normalMax < alertMax", problems
        )
    if isinstance(asked.csv, str):
        source, readings = "upload", _uploaded(asked)
    else:
        source, readings = "history", await _stored(context, device_id, asked)
    result = await run_in_threadpool(backtest.backtest, DeviceRules.from_row(merged), readings)
    return ok(_answer(device_id, source, merged, result))


async def _asked(request: Request) -> BacktestRequest:
    body = await request.body()  # BodyLimit has bounded it
    try:
        return convert_nested(parse(body) if body.strip() else {}, BacktestRequest, "config", ConfigUpdate)
    except Invalid as invalid:
        raise ApiError(400, "VALIDATION_ERROR", invalid.message, listed(invalid)) from None


async def _stored(context: ServiceContext, device_id: str, asked: BacktestRequest) -> list[tuple[float, float]]:
    end = params.timestamp("to", asked.to or None, datetime.now(UTC))
    start = params.timestamp("from", asked.from_ or None, end - DEFAULT_SPAN)
    if start > end:
        raise ApiError(400, "VALIDATION_ERROR", "'from' must not be after 'to'", {"from": iso(start), "to": iso(end)})
    async with context.db.connection() as conn:
        found = await devices.readings(conn, device_id, start, end, MAX_READINGS + 1)
    if len(found) > MAX_READINGS:
        message = f"over {MAX_READINGS:,} readings in that range: backtest a shorter one"
        raise ApiError(400, "VALIDATION_ERROR", message, {"from": iso(start), "to": iso(end)})
    return found


def _uploaded(asked: BacktestRequest) -> list[tuple[float, float]]:
    """The uploaded CSV's readings; a bad file or bad rows are a 400 that says which and why."""
    assert isinstance(asked.csv, str)
    tally = recorded.Tally()
    points: list[tuple[float, float]] = []
    columns = recorded.Columns(asked.time_column, asked.value_column)
    try:
        for item in recorded.csv_points(iter(asked.csv.splitlines()), columns, datetime.now(UTC)):
            tally.count(item)
            if isinstance(item, recorded.Point):
                points.append((item.at.timestamp(), item.value))
    except recorded.FileProblem as problem:
        raise ApiError(400, "VALIDATION_ERROR", f"the CSV cannot be read: {problem}") from None
    if tally.rejected or len(points) > MAX_READINGS:
        rows = [{"row": p.row, "reason": p.reason} for p in tally.problems]
        message = f"{tally.rejected} of {tally.read} rows cannot be read" if tally.rejected else "too many rows"
        raise ApiError(400, "VALIDATION_ERROR", message, rows)
    return points


def _answer(device_id: str, source: str, merged: dict[str, Any], result: backtest.Backtest) -> Backtest:
    def at(epoch: float | None) -> str | None:
        return None if epoch is None else iso(datetime.fromtimestamp(epoch, UTC))

    alerts = [
        WouldBeAlert(
            type=alert.rule,  # type: ignore[arg-type]  # a rule name is an alert type
            severity=alert.severity_name,
            triggered_at=iso(datetime.fromtimestamp(alert.opened_at, UTC)),
            resolved_at=at(alert.resolved_at),
            message=alert.finding.message,
            value=alert.finding.value,
            threshold=alert.finding.threshold,
            details=alert.finding.details,
        )
        for alert in result.alerts[:MAX_ALERTS]
    ]
    return Backtest(
        device_id=device_id,
        source=source,  # type: ignore[arg-type]
        from_=at(result.first_at),
        to=at(result.last_at),
        readings=result.readings,
        config=devices.config(merged),
        alert_count=len(result.alerts),
        per_day=[DayCount(day=day, alerts=count) for day, count in result.per_day().items()],
        per_type=result.per_rule(),
        alerts=alerts,
    )
