"""POST /api/readings: readings in over HTTP, onto `sensors-data` as a gateway would put them.

Who writes is `request.state.writer` (a gateway's API key or an operator, iotmon/service/access.py). Its
readings must all be of devices in its scope, and of registered devices in service, unless the writer may
register devices: then the devices its readings are the first to name are registered before the readings are
queued."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from eventing import topics
from eventing.events import reading_batches
from iotmon.adapters.postgres import registry
from iotmon.core.contracts.readings import Accepted, AcceptedMeta, Reading, ReadingBatch
from iotmon.core.contracts.validation import Invalid, json_document
from iotmon.core.readings import (
    Rejection,
    batch_positions,
    check_time,
    parse_batch,
    parse_reading,
    to_json,
    utcnow,
)
from iotmon.core.writers import Writer
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Reply, documented
from iotmon.service.responses import ApiError, JSONResponse, ok

SOURCE = "/iotmon/api/readings"
NAMED_AT_MOST = 20  # devices a refusal's message names (its details carry them all)


class OutOfScope(Exception):
    def __init__(self, devices: list[str]) -> None:
        super().__init__(", ".join(devices))
        self.devices = devices


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


def out_of_scope(writer: Writer, readings: list[Reading], registered: dict[str, str]) -> list[str]:
    """The devices among the readings that the writer may not write (pure). A registered device is judged by its
    registered location, never by the one a reading claims; a device not registered yet by its reading's."""
    refused = {
        reading.device_id
        for reading in readings
        if not writer.may_write(reading.device_id, registered.get(reading.device_id, reading.location))
    }
    return sorted(refused)


def admit(pool: ConnectionPool, readings: list[Reading], writer: Writer, in_batch: bool) -> list[dict[str, Any]]:
    """One problem per reading whose device is not in service; OutOfScope if any device is out of the writer's
    scope. A writer that may register devices registers the unknown ones first, unless the request is refused:
    all or nothing. One lookup for the whole request (two when it registers)."""
    with pool.connection() as conn:
        entries = registry.lookup(conn, {reading.device_id for reading in readings})
        if refused := out_of_scope(writer, readings, {device: entry.location for device, entry in entries.items()}):
            raise OutOfScope(refused)
        new = [r for r in readings if r.device_id not in entries] if writer.auto_register else []
        if not new:
            return refusals(readings, entries, in_batch)
        with conn.transaction():
            registry.register_from(conn, new)
            entries |= registry.lookup(conn, {reading.device_id for reading in new})
            # Another writer may have registered one of them elsewhere just before: judged where it now is.
            if refused := out_of_scope(writer, readings, {device: entry.location for device, entry in entries.items()}):
                raise OutOfScope(refused)  # (leaving the transaction rolls the registrations back)
            if problems := refusals(readings, entries, in_batch):
                raise psycopg.Rollback  # a refused request registers nothing
        return problems


def refusals(readings: list[Reading], entries: dict[str, registry.Entry], in_batch: bool) -> list[dict[str, Any]]:
    problems = []
    for index, reading in enumerate(readings):
        if (reason := registry.refusal(reading.device_id, entries)) is not None:
            problems.append({"index": index, "reason": reason} if in_batch else {"reason": reason})
    return problems


def scope_refusal(writer: Writer, refused: list[str]) -> ApiError:
    named = ", ".join(refused[:NAMED_AT_MOST]) + (
        f" and {len(refused) - NAMED_AT_MOST} more" if len(refused) > NAMED_AT_MOST else ""
    )
    return ApiError(
        403,
        "OUT_OF_SCOPE",
        f"{writer.name} may not write {named}; nothing was accepted (an admin can widen the key's scope with a new key)",
        [{"deviceId": device} for device in refused],
    )


@documented(
    body=(Reading, ReadingBatch),
    body_description='One reading, or a batch {"readings": [...]}.',
    responses={
        202: Reply("Queued on sensors-data.", data=Accepted, meta=AcceptedMeta),
        400: "Not JSON, invalid readings, or readings of devices not registered or decommissioned (VALIDATION_ERROR, "
        "one problem per reading with its index); nothing is accepted.",
        401: "No credentials, or an unknown or revoked API key (UNAUTHORIZED, INVALID_API_KEY, INVALID_TOKEN).",
        403: "A token below operator, or devices outside the API key's scope (OUT_OF_SCOPE, naming them); "
        "nothing is accepted.",
        503: "The event transport could not take them (TRANSPORT_UNAVAILABLE); try again.",
    },
)
async def post_readings(request: Request) -> JSONResponse:
    """Send readings, as a gateway would: validated, then queued on `sensors-data` for the pipeline.

    With a gateway API key (`Authorization: Bearer iotmon_gw_…` or `X-API-Key`) or an operator token. All or
    nothing: one invalid reading, one device outside the key's scope, or one that is not registered (POST
    /api/devices) or was decommissioned, refuses the whole request."""
    context: ServiceContext = request.app.state.context
    writer: Writer = request.state.writer
    try:
        payload = json_document(await request.body())  # BodyLimit has bounded it
    except Invalid as invalid:
        raise ApiError(400, "VALIDATION_ERROR", invalid.message) from None
    readings, problems = validate(payload)
    if problems:
        raise ApiError(
            400, "VALIDATION_ERROR", f"{len(problems)} reading(s) are invalid; nothing was accepted", problems
        )
    in_batch = "readings" in payload
    try:
        problems = await run_in_threadpool(admit, context.pool, readings, writer, in_batch)
    except OutOfScope as refused:
        raise scope_refusal(writer, refused.devices) from None
    if problems:
        raise ApiError(
            400, "VALIDATION_ERROR", f"{len(problems)} reading(s) are refused; nothing was accepted", problems
        )
    queued = reading_batches([to_json(reading) for reading in readings], SOURCE)
    try:
        await run_in_threadpool(context.transport.publish, topics.SENSORS_DATA, queued)
    except Exception as error:
        raise ApiError(503, "TRANSPORT_UNAVAILABLE", f"could not queue the readings, try again: {error}") from None
    return ok(Accepted(accepted=len(readings)), AcceptedMeta(topic=topics.SENSORS_DATA, events=len(queued)), status=202)
