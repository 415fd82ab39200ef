"""POST /api/devices/{device_id}/backtest: what a device's rules would have raised over recorded readings.

The readings — the device's stored history, or an uploaded CSV — go through
the same rule code as evaluate-rule (`iotmon.core.backtest`), from a fresh
state, under the device's configuration or a candidate one laid over it.
Nothing is written: no alert, no notification, no change to the device.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from iotmon.core import backtest, recorded
from iotmon.core.contracts.backtest import Backtest, BacktestRequest
from iotmon.core.contracts.devices import ConfigUpdate
from iotmon.core.contracts.validation import Invalid, convert_nested, listed, parse
from iotmon.core.rules import DeviceRules
from iotmon.core.timestamps import iso
from iotmon.service import params
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Reply, documented
from iotmon.service.queries import devices
from iotmon.service.responses import ApiError, JSONResponse, ok
from iotmon.service.routes.devices import DEVICE_PATH, NOT_FOUND, config_columns, device_row

DEFAULT_SPAN = timedelta(days=7)
MAX_READINGS = 1_000_000  # 7 days at a reading a second fit; judging them takes ~20–30 s


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
    merged, problems = backtest.candidate(row, config_columns(asked.config))
    if problems:
        message = "the limits must satisfy alertMin < normalMin < normalMax < alertMax"
        raise ApiError(400, "VALIDATION_ERROR", message, problems)
    source: Literal["history", "upload"] = "upload" if isinstance(asked.csv, str) else "history"
    readings = _uploaded(asked) if source == "upload" else await _stored(context, device_id, asked)
    result = await run_in_threadpool(backtest.backtest, DeviceRules.from_row(merged), readings)
    return ok(backtest.answer(result, device_id, source, devices.config(merged)))


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
