"""POST /api/readings: readings in over HTTP, onto `sensors-data` as a gateway would put them.

Only readings of registered devices in service are taken, unless the writer may register devices: then the
devices its readings are the first to name are registered before the readings are queued."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec
import psycopg
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from eventing import topics
from eventing.events import batch_event, reading_event
from iotmon.adapters.postgres import registry
from iotmon.adapters.postgres.registry import location_of
from iotmon.core.contracts.readings import Accepted, AcceptedMeta, Reading, ReadingBatch
from iotmon.core.readings import Rejection, batch_positions, check_time, parse_batch, parse_reading, to_json, utcnow
from iotmon.core.writers import Writer
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Reply, documented
from iotmon.service.requests import read_body
from iotmon.service.responses import ApiError, JSONResponse, ok

MAX_BODY = 8 * 1024 * 1024
SOURCE = "/iotmon/api/readings"
ANONYMOUS = Writer("anonymous")


def writer_of(request: Request) -> Writer:
    """Who is writing, as authentication put it in `request.state.writer`; anyone else is anonymous, and may not
    register devices (a signed-in operator or admin may)."""
    return getattr(request.state, "writer", None) or ANONYMOUS


def validate(payload: Any) -> tuple[list[Reading], list[dict[str, Any]]]:
    """Good readings and one problem per bad reading (pure)."""
    if not isinstance(payload, dict):
        return [], [{"reason": 'expected a reading object or {"readings": [...]}'}]
    in_batch = "readings" in payload
    if in_batch:
        good, bad = parse_batch(payload)
    else:
        try:
            good, bad = [parse_reading(payload)], []
        except ValueError as error:
            good, bad = [], [Rejection(str(error), payload)]
    now = utcnow()
    for position, reading in zip(batch_positions(good, bad), good, strict=True):
        if reason := check_time(reading, now):
            bad.append(Rejection(reason, to_json(reading), position if in_batch else None))
    problems = [{"reason": r.reason} if r.index is None else {"index": r.index, "reason": r.reason} for r in bad]
    return good, sorted(problems, key=lambda p: p.get("index", -1))


def admit(pool: ConnectionPool, readings: list[Reading], writer: Writer, in_batch: bool) -> list[dict[str, Any]]:
    """One problem per reading the writer may not send: its device is not in service, or out of the writer's
    scope. A writer that may register devices registers the unknown ones in its scope first, unless the request
    is refused: all or nothing. One lookup for the whole request (two when it registers)."""
    with pool.connection() as conn:
        entries = registry.lookup(conn, {reading.device_id for reading in readings})
        unknown = [r for r in readings if r.device_id not in entries]
        new = [r for r in unknown if writer.may_write(r.device_id, location_of(r))] if writer.auto_register else []
        if not new:
            return refusals(readings, entries, writer, in_batch)
        with conn.transaction():
            registry.register_from(conn, new)
            entries |= registry.lookup(conn, {reading.device_id for reading in new})
            if problems := refusals(readings, entries, writer, in_batch):
                raise psycopg.Rollback  # a refused request registers nothing
        return problems


def refusals(
    readings: list[Reading], entries: dict[str, registry.Entry], writer: Writer, in_batch: bool
) -> list[dict[str, Any]]:
    problems = []
    for index, reading in enumerate(readings):
        device = reading.device_id
        reason = registry.refusal(device, entries)
        if reason is None and not writer.may_write(device, entries[device].location):
            reason = f"{writer.name!r} may not write device {device!r}: ask for a key that covers it"
        if reason is not None:
            problems.append({"index": index, "reason": reason} if in_batch else {"reason": reason})
    return problems


def events(readings: list[Reading], batch: bool) -> list[CloudEvent]:
    """A batch event per device (so each device's readings stay in order), or the one reading's event."""
    if not batch:
        return [reading_event(to_json(readings[0]), SOURCE)]
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for reading in readings:
        by_device[reading.device_id].append(to_json(reading))
    return [batch_event(group, SOURCE, key=device) for device, group in by_device.items()]


@documented(
    body=(Reading, ReadingBatch),
    body_description='One reading, or a batch {"readings": [...]}.',
    responses={
        202: Reply("Queued on sensors-data.", data=Accepted, meta=AcceptedMeta),
        400: "Not JSON, invalid readings, or readings of devices not registered or decommissioned (VALIDATION_ERROR, "
        "one problem per reading with its index); nothing is accepted.",
        413: "The body is over 8 MiB.",
        503: "The event transport could not take them (TRANSPORT_UNAVAILABLE); try again.",
    },
)
async def post_readings(request: Request) -> JSONResponse:
    """Send readings, as a gateway would: validated, then queued on `sensors-data` for the pipeline.

    All or nothing: one invalid reading, or one of a device that is not registered (POST /api/devices) or was
    decommissioned, refuses the whole request."""
    context: ServiceContext = request.app.state.context
    try:
        payload = msgspec.json.decode(await read_body(request, MAX_BODY))
    except msgspec.DecodeError as error:
        raise ApiError(400, "VALIDATION_ERROR", f"request body is not valid JSON: {error}") from None
    readings, problems = validate(payload)
    if problems:
        raise ApiError(
            400, "VALIDATION_ERROR", f"{len(problems)} reading(s) are invalid; nothing was accepted", problems
        )
    in_batch = "readings" in payload
    if problems := await run_in_threadpool(admit, context.pool, readings, writer_of(request), in_batch):
        raise ApiError(
            400, "VALIDATION_ERROR", f"{len(problems)} reading(s) are refused; nothing was accepted", problems
        )
    queued = events(readings, batch=in_batch)
    try:
        await run_in_threadpool(context.transport.publish, topics.SENSORS_DATA, queued)
    except Exception as error:
        raise ApiError(503, "TRANSPORT_UNAVAILABLE", f"could not queue the readings, try again: {error}") from None
    return ok(Accepted(accepted=len(readings)), AcceptedMeta(topic=topics.SENSORS_DATA, events=len(queued)), status=202)
