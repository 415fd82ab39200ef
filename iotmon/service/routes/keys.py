"""Gateway API keys (admins): make one (its secret is shown in that answer only), list them, revoke one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from iotmon.adapters.postgres import api_keys
from iotmon.core.contracts.keys import ApiKey, ApiKeyList, ApiKeyListMeta, NewApiKey, NewApiKeyCreated
from iotmon.service.context import ServiceContext
from iotmon.service.gateway_keys import GatewayKeys
from iotmon.service.openapi import Reply, documented
from iotmon.service.requests import body_as
from iotmon.service.responses import ApiError, JSONResponse, ok


@documented(
    body=NewApiKey,
    responses={
        201: Reply("Created: the secret is in this answer and nowhere else.", data=NewApiKeyCreated),
        400: "An invalid name, device id or location (VALIDATION_ERROR).",
    },
)
async def create_key(request: Request) -> JSONResponse:
    """Make a gateway API key, for POST /api/readings, scoped to devices and/or locations (neither: every device)."""
    context: ServiceContext = request.app.state.context
    new = await body_as(request, NewApiKey)
    async with context.db.connection() as conn:
        key, secret = await api_keys.create(conn, new, request.state.user.name)
    return ok(NewApiKeyCreated(key=key, secret=secret), status=201)


@documented(
    responses={200: Reply("The keys, active first (never their secrets).", data=ApiKeyList, meta=ApiKeyListMeta)}
)
async def list_keys(request: Request) -> JSONResponse:
    """List the gateway API keys, revoked ones included."""
    context: ServiceContext = request.app.state.context
    async with context.db.connection() as conn:
        found = await api_keys.all_keys(conn)
    active = sum(key.revoked_at is None for key in found)
    return ok(ApiKeyList(keys=found), ApiKeyListMeta(total=len(found), active=active))


@documented(
    path={"key_id": "The key's id."},
    responses={200: Reply("Revoked (or already).", data=ApiKey), 404: "No such key (KEY_NOT_FOUND)."},
)
async def revoke_key(request: Request) -> JSONResponse:
    """Revoke a gateway API key: refused at once by this replica, by the others within 5 s (their key cache)."""
    context: ServiceContext = request.app.state.context
    keys: GatewayKeys = request.app.state.gateway_keys
    key_id = request.path_params["key_id"]
    async with context.db.connection() as conn:
        revoked = await api_keys.revoke(conn, key_id)
    if revoked is None:
        raise ApiError(404, "KEY_NOT_FOUND", f"no API key {key_id}: GET /api/keys lists them")
    keys.forget()
    return ok(revoked)


ROUTES = [
    Route("/api/keys", list_keys, methods=["GET"]),
    Route("/api/keys", create_key, methods=["POST"]),
    Route("/api/keys/{key_id:int}", revoke_key, methods=["DELETE"]),
]
