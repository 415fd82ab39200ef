"""The REST API's route table: every /api path in one place, each handler in the module of its subject.

Handlers are thin: they parse the request, call the queries (iotmon.service.queries)
or the adapters, and answer with contracts in the envelope.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from iotmon.service import docs
from iotmon.service.metrics import Metrics
from iotmon.service.responses import error
from iotmon.service.routes import (
    alerts,
    analytics,
    backtest,
    devices,
    fleet,
    imports,
    keys,
    readings,
    silences,
    system,
    users,
)


async def _unknown_api(request: Request) -> Response:
    # A known path asked with another method is a 404 too, in the envelope.
    return error(404, "NOT_FOUND", f"no route for {request.method} {request.url.path}")


API_ROUTES: list[BaseRoute] = [
    Route("/api/health", system.health),
    Route("/api/status", system.status),
    Route("/api/readings", readings.post_readings, methods=["POST"]),
    *users.ROUTES,
    *keys.ROUTES,
    # the fleet
    Route("/api/fleet", fleet.get_fleet),
    Route("/api/analytics/fleet", fleet.fleet_analytics),
    # devices
    Route("/api/devices", devices.list_devices),
    Route("/api/devices", devices.create_device, methods=["POST"]),
    Route("/api/devices/{device_id}", devices.get_device),
    Route("/api/devices/{device_id}", devices.update_device, methods=["PUT"]),
    Route("/api/devices/{device_id}", devices.decommission_device, methods=["DELETE"]),
    Route("/api/devices/{device_id}/current", devices.current_reading),
    Route("/api/devices/{device_id}/history", devices.device_history),
    Route("/api/devices/{device_id}/history.csv", devices.history_csv),
    Route("/api/devices/{device_id}/config", devices.put_config, methods=["PUT"]),
    Route("/api/devices/{device_id}/backtest", backtest.backtest_device, methods=["POST"]),
    Route("/api/devices/{device_id}/import", imports.import_history, methods=["POST"]),
    # alerts: the fixed paths before /api/alerts/{alert_id}
    Route("/api/alerts", alerts.list_alerts),
    Route("/api/alerts/history", alerts.alert_history),
    Route("/api/alerts/export.csv", alerts.alerts_csv),
    Route("/api/alerts/{alert_id}", alerts.get_alert),
    Route("/api/alerts/{alert_id}/acknowledge", alerts.acknowledge_alert, methods=["PUT"]),
    Route("/api/alerts/{alert_id}/resolve", alerts.resolve_alert, methods=["PUT"]),
    # silences
    Route("/api/silences", silences.list_silences),
    Route("/api/silences", silences.create_silence, methods=["POST"]),
    Route("/api/silences/{silence_id}", silences.delete_silence, methods=["DELETE"]),
    # metrics and analytics
    Route("/api/metrics/dashboard", analytics.dashboard),
    Route("/api/metrics/system", analytics.system_metrics),
    Route("/api/analytics/trends/{device_id}", analytics.trends),
    Route("/api/analytics/summary", analytics.summary),
    # the API's own description, built from these routes
    Route("/api/openapi.json", docs.openapi_json),
    Route("/api/docs", docs.docs_page),
]

# Probes stay open whoever may read the API, and say only up or down.
PROBES: list[BaseRoute] = [Route("/healthz", system.liveness), Route("/readyz", system.readiness)]

# Last: anything else under /api is a 404 in the envelope, not the dashboard's page.
FALLBACK: list[BaseRoute] = [
    Mount("/api", routes=[Route("/{path:path}", _unknown_api, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])])
]

# What the OpenAPI document describes (the app adds its own /metrics endpoint, documented alike).
DOCUMENTED_ROUTES: list[BaseRoute] = [Route("/metrics", Metrics.endpoint), *PROBES, *API_ROUTES]
