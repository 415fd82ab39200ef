"""The REST API's route table (architecture §4.5): every /api path in one place."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from iotmon.service import devices, health, readings
from iotmon.service.responses import error


async def _unknown_api(request: Request) -> Response:
    return error(404, "NOT_FOUND", f"no route for {request.method} {request.url.path}")


API_ROUTES: list[BaseRoute] = [
    Route("/api/health", health.health),
    Route("/api/readings", readings.post_readings, methods=["POST"]),
    Route("/api/devices", devices.list_devices),
    Route("/api/devices/{device_id}/history", devices.device_history),
]

# Last: anything else under /api is a 404 in the envelope, not the dashboard's page.
FALLBACK: list[BaseRoute] = [
    Mount("/api", routes=[Route("/{path:path}", _unknown_api, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])])
]
