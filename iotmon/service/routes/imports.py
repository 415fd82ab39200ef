"""POST /api/devices/:id/import: a device's recorded history, from a CSV or JSON file, stored as its readings.

The body is spooled to a temporary file as it arrives (BodyLimit bounds it: 413 beyond), then read row by row
in a worker thread and stored in one transaction by iotmon.adapters.postgres.imports: set-based and
idempotent like ingest, never through Kafka, so it raises no alert and no live message."""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime
from typing import IO

from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from iotmon.adapters.postgres import imports
from iotmon.core.contracts.devices import ImportSummary
from iotmon.core.readings import MAX_FUTURE
from iotmon.core.recorded import TIME_COLUMN, VALUE_COLUMN, Columns, FileProblem, csv_points, json_points
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Payload, Query, Reply, documented
from iotmon.service.responses import ApiError, JSONResponse, ok
from iotmon.service.routes.devices import DEVICE_PATH, NOT_FOUND, not_found

SPOOL_IN_MEMORY = 1024 * 1024  # bytes of a body held in memory before it goes to disk
ROW_SCHEMA = {"type": "object", "description": "A row: the time and value columns by name; others are ignored."}
FILE = Payload(
    {
        "text/csv": {
            "schema": {"type": "string", "description": "CSV with a header row; delimiter `,` `;` or tab (sniffed)."}
        },
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "array", "items": ROW_SCHEMA},
                    {"type": "object", "properties": {"readings": {"type": "array", "items": ROW_SCHEMA}}},
                ]
            }
        },
    }
)


def column(request: Request, name: str, default: str) -> str:
    raw = request.query_params.get(name) or default
    if len(raw) > 100 or "\x00" in raw:
        raise ApiError(400, "VALIDATION_ERROR", f"'{name}' must be at most 100 characters, without NUL", {name: raw})
    return raw


def store(
    pool: ConnectionPool, device_id: str, body: IO[bytes], columns: Columns, as_json: bool, actor: str
) -> ImportSummary:
    """Read the spooled file and store its rows (in a worker thread: psycopg's COPY is synchronous)."""
    latest = datetime.now(UTC) + MAX_FUTURE
    with pool.connection() as conn:
        device = imports.target(conn, device_id)
        if device is None:
            raise not_found(device_id)
        if device.decommissioned_at is not None:
            message = f"device {device_id!r} is decommissioned: register it again (POST /api/devices) to import"
            raise ApiError(409, "DEVICE_DECOMMISSIONED", message, {"deviceId": device_id})
        if as_json:
            points = json_points(body.read(), columns, latest)
        else:
            points = csv_points(iter(io.TextIOWrapper(body, encoding="utf-8-sig", newline="")), columns, latest)
        try:
            return imports.run(conn, device, points, imported_by=actor)
        except FileProblem as problem:
            raise ApiError(400, "VALIDATION_ERROR", f"{problem}; nothing was imported") from None


@documented(
    path=DEVICE_PATH,
    query={
        "timeColumn": Query(str, f"The column of the times (default {TIME_COLUMN}).", maxLength=100),
        "valueColumn": Query(str, f"The column of the values (default {VALUE_COLUMN}).", maxLength=100),
    },
    body=FILE,
    body_description='CSV (text/csv) or JSON (application/json): an array of row objects or {"readings": [...]}.',
    responses={
        200: Reply("What was imported, skipped and refused.", data=ImportSummary),
        400: "A file that cannot be read as a whole: no header, a missing column, not UTF-8, JSON of another "
        "shape, a bad column name (VALIDATION_ERROR); nothing is imported.",
        404: NOT_FOUND,
        409: "The device is decommissioned (DEVICE_DECOMMISSIONED).",
    },
)
async def import_history(request: Request) -> JSONResponse:
    """Import a device's recorded history from a CSV or JSON file, of any age.

    Times are ISO 8601 (no offset = UTC) or epoch seconds. Good rows are stored once (a row whose time is already
    stored is a duplicate, skipped); bad rows are counted and the first 20 named, and do not stop the others.
    Hourly rollups follow; no alert, notification or live value comes of it. Imported history is kept for the
    retention counted from the import (raw 3 months, hourly 1 year)."""
    context: ServiceContext = request.app.state.context
    device_id = request.path_params["device_id"]
    columns = Columns(column(request, "timeColumn", TIME_COLUMN), column(request, "valueColumn", VALUE_COLUMN))
    as_json = "json" in request.headers.get("content-type", "")
    actor = getattr(getattr(request.state, "user", None), "name", "anonymous")
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
        async for chunk in request.stream():  # BodyLimit counts it: 413 past the limit
            body.write(chunk)
        body.seek(0)
        summary = await run_in_threadpool(store, context.pool, device_id, body, columns, as_json, actor)
    return ok(summary)
