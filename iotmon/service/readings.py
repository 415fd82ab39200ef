"""POST /api/readings: readings in over HTTP, onto `sensors-data` as a gateway would put them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from eventing import topics
from eventing.events import batch_event, reading_event
from iotmon.readings import check_time, parse_batch, parse_reading, to_json, utcnow
from iotmon.service.context import ServiceContext
from iotmon.service.responses import ApiError, JSONResponse, ok

MAX_BODY = 8 * 1024 * 1024
SOURCE = "/iotmon/api/readings"


async def _body(request: Request) -> Any:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"request body over {MAX_BODY // 1024 // 1024} MiB")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise ApiError(400, "VALIDATION_ERROR", f"request body is not valid JSON: {error}") from None


def _validate(payload: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Good readings (as JSON objects) and one problem per bad reading."""
    if not isinstance(payload, dict):
        return [], [{"reason": "expected a reading object or {\"readings\": [...]}"}]
    if "readings" in payload:
        good, bad = parse_batch(payload)
        problems = [{"index": r.index, "reason": r.reason} for r in bad]
    else:
        try:
            good, problems = [parse_reading(payload)], []
        except ValueError as error:
            good, problems = [], [{"reason": str(error)}]
    now = utcnow()
    for index, reading in enumerate(good):
        reason = check_time(reading, now)
        if reason:
            problems.append({"index": index, "reason": reason} if "readings" in payload else {"reason": reason})
    return [to_json(reading) for reading in good], problems


async def post_readings(request: Request) -> JSONResponse:
    context: ServiceContext = request.app.state.context
    payload = await _body(request)
    readings, problems = _validate(payload)
    if problems:
        raise ApiError(400, "VALIDATION_ERROR", f"{len(problems)} reading(s) are invalid; nothing was accepted", problems)
    if "readings" in payload:
        by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for reading in readings:
            by_device[reading["deviceId"]].append(reading)
        events = [batch_event(group, SOURCE, key=device) for device, group in by_device.items()]
    else:
        events = [reading_event(readings[0], SOURCE)]
    try:
        await run_in_threadpool(context.transport.publish, topics.SENSORS_DATA, events)
    except Exception as error:
        raise ApiError(503, "TRANSPORT_UNAVAILABLE", f"could not queue the readings, try again: {error}") from None
    return ok({"accepted": len(readings)}, {"topic": topics.SENSORS_DATA, "events": len(events)}, status=202)
