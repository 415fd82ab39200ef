"""Who may do what: JWT bearer tokens and the role each request needs.

Tokens (HS256) are signed with a key kept in PostgreSQL, so any replica accepts
them, and carry the role. Reading is open to viewers, and to anonymous clients
unless IOTMON_ANONYMOUS_READ=false; writes (acknowledge, resolve, silences,
device configuration) need an operator, user and API key management an admin.
POST /api/readings, the gateways' ingest path, takes a gateway API key
(`Authorization: Bearer iotmon_gw_…` or `X-API-Key`) or an operator's token;
whoever it is goes into `request.state.writer`, with the devices it may write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from starlette.types import ASGIApp, Receive, Scope, Send

from iotmon.adapters.postgres import users
from iotmon.core import api_keys
from iotmon.core.contracts.common import Role
from iotmon.core.writers import Writer
from iotmon.service.gateway_keys import GatewayKeys
from iotmon.service.responses import ApiError, error

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
OPEN_WRITES = {"/api/auth/login"}
KEY_WRITES = {"/api/readings"}  # POST with a gateway API key, or an operator's token
HOW_TO_WRITE = (
    "send a gateway API key as `Authorization: Bearer iotmon_gw_…` or `X-API-Key: iotmon_gw_…`"
    " (an admin makes one at POST /api/keys), or an operator token from POST /api/auth/login"
)
ALGORITHM = "HS256"


@dataclass
class Access:
    """How the service authenticates; the key is loaded from PostgreSQL at start-up."""

    database_url: str
    anonymous_read: bool = True
    token_ttl_s: int = 8 * 3600
    signing_key: str = ""

    def issue(self, user: users.User) -> tuple[str, float]:
        expires = time.time() + self.token_ttl_s
        claims = {"sub": user.name, "role": user.role, "exp": int(expires), "iat": int(time.time())}
        return jwt.encode(claims, self.signing_key, algorithm=ALGORITHM), expires

    def verify(self, token: str) -> users.User:
        """The token's user; raises ApiError(401) for a bad or expired token."""
        try:
            claims = jwt.decode(token, self.signing_key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(
                401, "TOKEN_EXPIRED", "the token has expired: log in again at POST /api/auth/login"
            ) from None
        except jwt.InvalidTokenError as problem:
            raise ApiError(401, "INVALID_TOKEN", f"the token is not valid: {problem}") from None
        if claims.get("role") not in users.ROLES:
            raise ApiError(401, "INVALID_TOKEN", "the token carries no known role")
        return users.User(claims["sub"], claims["role"])


def required_role(method: str, path: str, anonymous_read: bool) -> Role | None:
    """The least role a request needs (None: anyone)."""
    if path.startswith(("/api/users", "/api/keys")):
        return "admin"
    if method in READ_METHODS:
        return None if anonymous_read else "viewer"
    if path in OPEN_WRITES:
        return None
    return "operator"


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"


def bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if kind.lower() == "bearer" and token.strip() else None
    return None


def api_key(scope: Scope) -> str | None:
    """The API key sent as `X-API-Key`, or as a bearer token that looks like one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            return value.decode("latin-1").strip() or None
    token = bearer(scope)
    return token if token and api_keys.is_key(token) else None


class AccessControl:
    """Puts the caller in `request.state.user` and turns away who may not (401 / 403 envelopes)."""

    def __init__(self, app: ASGIApp, access: Access, keys: GatewayKeys) -> None:
        self.app, self.access, self.keys = app, access, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api"):
            return await self.app(scope, receive, send)
        user = writer = None
        writes_readings = scope["method"] == "POST" and scope["path"] in KEY_WRITES
        try:
            if writes_readings and (key := api_key(scope)) is not None:
                writer = await self._key_writer(key)
            else:
                token = bearer(scope)
                # Elsewhere an API key is no login: the request counts as anonymous.
                user = self.access.verify(token) if token and not api_keys.is_key(token) else None
                needed = required_role(scope["method"], scope["path"], self.access.anonymous_read)
                if needed is not None:
                    self._check(user, needed, HOW_TO_WRITE if writes_readings else None)
                if writes_readings and user is not None:  # an operator may register devices anyway
                    writer = Writer(user.name, auto_register=True)
        except ApiError as denied:
            response = error(denied.status, denied.code, denied.message, denied.details)
            response.headers["WWW-Authenticate"] = "Bearer"
            return await response(scope, receive, send)
        state = scope.setdefault("state", {})
        state["user"], state["writer"] = user, writer
        await self.app(scope, receive, send)

    async def _key_writer(self, key: str) -> Writer:
        writer = await self.keys.writer(key)
        if writer is None:
            raise ApiError(401, "INVALID_API_KEY", f"the API key is unknown or revoked: {HOW_TO_WRITE}")
        return writer

    @staticmethod
    def _check(user: users.User | None, needed: Role, how: str | None = None) -> None:
        if user is None:
            if how:
                raise ApiError(401, "UNAUTHORIZED", f"this needs credentials: {how}")
            how = "Authorization: Bearer <token> from POST /api/auth/login"
            raise ApiError(401, "UNAUTHORIZED", f"this needs {_article(needed)} {needed} token: {how}")
        if not user.can(needed):
            raise ApiError(403, "FORBIDDEN", f"this needs the {needed} role; {user.name} is {user.role}")
