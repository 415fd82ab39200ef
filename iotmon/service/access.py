"""Who may do what: JWT bearer tokens and the role each request needs.

Tokens (HS256) are signed with a key kept in PostgreSQL, so any replica accepts
them, and carry the role. Reading is open to viewers, and to anonymous clients
unless IOTMON_ANONYMOUS_READ=false; writes (acknowledge, resolve, silences, the
device registry and configuration) need an operator, user management an admin.
POST /api/readings stays open: it is the gateways' ingest path, validated and
rate-limited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from starlette.types import ASGIApp, Receive, Scope, Send

from iotmon.adapters.postgres import users
from iotmon.core.contracts.common import Role
from iotmon.service.responses import ApiError, error

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
OPEN_WRITES = {"/api/auth/login", "/api/readings"}
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
    if path.startswith("/api/users"):
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


class AccessControl:
    """Puts the caller in `request.state.user` and turns away who may not (401 / 403 envelopes)."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api"):
            return await self.app(scope, receive, send)
        user = None
        try:
            token = bearer(scope)
            user = self.access.verify(token) if token else None
            needed = required_role(scope["method"], scope["path"], self.access.anonymous_read)
            if needed is not None:
                self._check(user, needed)
        except ApiError as denied:
            response = error(denied.status, denied.code, denied.message, denied.details)
            response.headers["WWW-Authenticate"] = "Bearer"
            return await response(scope, receive, send)
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    @staticmethod
    def _check(user: users.User | None, needed: Role) -> None:
        if user is None:
            how = "Authorization: Bearer <token> from POST /api/auth/login"
            raise ApiError(401, "UNAUTHORIZED", f"this needs {_article(needed)} {needed} token: {how}")
        if not user.can(needed):
            raise ApiError(403, "FORBIDDEN", f"this needs the {needed} role; {user.name} is {user.role}")
