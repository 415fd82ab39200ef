"""Who may do what: login sessions, their short-lived bearer tokens, and the role each request needs.

A login opens a session (PostgreSQL) and answers with an access token (a JWT,
HS256, minutes long, naming its session and signing key) and a refresh token
(an opaque secret that gets new access tokens until the session ends). Every
request with a token checks that its session is still open, so logging out,
deleting the user or changing its role or password ends it at once, on every
replica. The signing keys come from iotmon/adapters/signing_keys.py.

Reading is open to viewers, and to anonymous clients unless
IOTMON_ANONYMOUS_READ=false (then /metrics too needs a token); writes
(acknowledge, resolve, silences, the device registry and configuration) need an operator, user and API key
management an admin. POST /api/readings, the gateways' ingest path, takes a
gateway API key (`Authorization: Bearer iotmon_gw_…` or `X-API-Key`) or an
operator's token; whoever it is goes into `request.state.writer`, with the
devices it may write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from iotmon.adapters.postgres import users
from iotmon.adapters.signing_keys import SigningKeys
from iotmon.core import api_keys
from iotmon.core.contracts.common import Role
from iotmon.core.writers import Writer
from iotmon.service.gateway_keys import GatewayKeys
from iotmon.service.queries import sessions
from iotmon.service.responses import ApiError, database_unavailable, error

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
OPEN_WRITES = {"/api/auth/login", "/api/auth/refresh", "/api/auth/logout"}  # (logout checks its own credential)
KEY_WRITES = {"/api/readings"}  # POST with a gateway API key, or an operator's token
GUARDED = ("/api", "/metrics")  # what AccessControl looks at; /healthz, /readyz and the dashboard stay open
HOW_TO_WRITE = (
    "send a gateway API key as `Authorization: Bearer iotmon_gw_…` or `X-API-Key: iotmon_gw_…`"
    " (an admin makes one at POST /api/keys), or an operator token from POST /api/auth/login"
)
ALGORITHM = "HS256"
LOG_IN_AGAIN = "log in again at POST /api/auth/login"


@dataclass(frozen=True)
class Session:
    """A checked access token: its user, its session, when it expires (epoch seconds)."""

    user: users.User
    session_id: str
    expires: float


@dataclass(frozen=True)
class Issued:
    """What a login or a refresh answers."""

    user: users.User
    token: str
    expires: datetime
    refresh_token: str
    session_expires: datetime


@dataclass
class Access:
    """How the service authenticates; `keys` are loaded at start-up."""

    db: AsyncConnectionPool[Any]
    anonymous_read: bool = True
    token_ttl_s: int = 15 * 60
    session_ttl_s: int = 12 * 3600
    keys: SigningKeys = field(default_factory=lambda: SigningKeys("", {}))
    metrics_token: str | None = None  # Prometheus' bearer secret for /metrics (IOTMON_METRICS_TOKEN)

    def scrapes(self, path: str, token: str | None) -> bool:
        """Whether this is Prometheus reading /metrics with its own secret (no session: it cannot log in)."""
        return (
            path == "/metrics"
            and token is not None
            and self.metrics_token is not None
            and hmac.compare_digest(token.encode(), self.metrics_token.encode())
        )

    async def open_session(self, user: users.User, password_hash: str) -> Issued:
        """A new session for `user`, whose password was just checked against `password_hash`; ApiError(401) if
        the password was changed (or the user deleted) meanwhile."""
        session_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
        session_expires = datetime.fromtimestamp(time.time() + self.session_ttl_s, UTC)
        async with self.db.connection() as conn:
            opened = await sessions.open_session(
                conn, session_id, user.name, password_hash, _digest(secret), session_expires
            )
        if not opened:
            raise ApiError(401, "INVALID_CREDENTIALS", "unknown username or wrong password")
        return self._issue(user, session_id, f"{session_id}.{secret}", session_expires)

    async def refresh(self, refresh_token: str) -> Issued:
        """A new access token for the session `refresh_token` belongs to; ApiError(401) if it has ended."""
        session_id, (username, role, session_expires) = await self._open_session_of(refresh_token)
        return self._issue(users.User(username, role), session_id, refresh_token, session_expires)

    async def session_of(self, refresh_token: str) -> str:
        """The id of the open session `refresh_token` belongs to; ApiError(401) if it has ended."""
        session_id, _ = await self._open_session_of(refresh_token)
        return session_id

    async def _open_session_of(self, refresh_token: str) -> tuple[str, tuple[str, Role, datetime]]:
        session_id, _, secret = refresh_token.partition(".")
        async with self.db.connection() as conn:
            found = await sessions.for_refresh(conn, session_id) if session_id.isalnum() else None
        if found is None or not hmac.compare_digest(found[2], _digest(secret)):
            raise ApiError(401, "SESSION_ENDED", f"the session has ended or the refresh token is wrong: {LOG_IN_AGAIN}")
        username, role, _, session_expires = found
        return session_id, (username, role, session_expires)

    async def end(self, session_id: str) -> None:
        async with self.db.connection() as conn:
            await sessions.end(conn, session_id)

    async def verify(self, token: str) -> Session:
        """The token's session, if the token is genuine and unexpired and its session still open; else
        ApiError(401)."""
        claims = self.claims(token)
        async with self.db.connection() as conn:
            role = await sessions.live_role(conn, claims["sid"], claims["sub"])
        if role is None or role != claims["role"]:
            raise ApiError(
                401, "SESSION_ENDED", f"the session has ended (logged out, or the user was changed): {LOG_IN_AGAIN}"
            )
        return Session(users.User(claims["sub"], role), claims["sid"], float(claims["exp"]))

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a genuine, unexpired token; ApiError(401) otherwise."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            secret = self.keys.secret(kid) if isinstance(kid, str) else None
            if secret is None:
                raise ApiError(
                    401, "INVALID_TOKEN", f"the token was signed with a key no longer accepted: {LOG_IN_AGAIN}"
                )
            claims: dict[str, Any] = jwt.decode(
                token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "sid", "role"]}
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(
                401, "TOKEN_EXPIRED", "the token has expired: get a new one at POST /api/auth/refresh"
            ) from None
        except jwt.InvalidTokenError as problem:
            raise ApiError(401, "INVALID_TOKEN", f"the token is not valid: {problem}") from None
        if claims["role"] not in users.ROLES or not isinstance(claims["sid"], str):
            raise ApiError(401, "INVALID_TOKEN", "the token carries no known role or session")
        return claims

    def _issue(self, user: users.User, session_id: str, refresh_token: str, session_expires: datetime) -> Issued:
        now = time.time()
        expires = min(now + self.token_ttl_s, session_expires.timestamp())
        claims = {"sub": user.name, "role": user.role, "sid": session_id, "iat": int(now), "exp": int(expires)}
        secret = self.keys.secrets[self.keys.current]
        token = jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": self.keys.current})
        return Issued(user, token, datetime.fromtimestamp(int(expires), UTC), refresh_token, session_expires)


def _digest(secret: str) -> bytes:
    # A 256-bit random secret needs no slow hash: SHA-256 keeps a database leak from yielding usable tokens.
    return hashlib.sha256(secret.encode()).digest()


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
    """Puts the caller in `request.state.user` (and its session in `request.state.session`) and turns away
    who may not (401 / 403 envelopes)."""

    def __init__(self, app: ASGIApp, access: Access, keys: GatewayKeys) -> None:
        self.app, self.access, self.keys = app, access, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED):
            return await self.app(scope, receive, send)
        session = writer = None
        writes_readings = scope["method"] == "POST" and scope["path"] in KEY_WRITES
        try:
            if writes_readings and (key := api_key(scope)) is not None:
                writer = await self._key_writer(key)
            elif not self.access.scrapes(scope["path"], token := bearer(scope)):
                # Elsewhere an API key is no login: the request counts as anonymous.
                session = await self._session(scope["path"], token) if token and not api_keys.is_key(token) else None
                user = session.user if session else None
                needed = required_role(scope["method"], scope["path"], self.access.anonymous_read)
                if needed is not None:
                    self._check(user, needed, HOW_TO_WRITE if writes_readings else None)
                if writes_readings and user is not None:  # an operator may register devices anyway
                    writer = Writer(user.name, auto_register=True)
        except ApiError as denied:
            response = error(denied.status, denied.code, denied.message, denied.details)
            if denied.status == 403:  # (a 401 says it anyway)
                response.headers["WWW-Authenticate"] = "Bearer"
            return await response(scope, receive, send)
        except psycopg.OperationalError as down:  # sessions and keys are in PostgreSQL: 503, as a route answers
            unavailable = await database_unavailable(Request(scope), down)
            return await unavailable(scope, receive, send)
        state = scope.setdefault("state", {})
        state["user"] = session.user if session else None
        state["session"], state["writer"] = session, writer
        await self.app(scope, receive, send)

    async def _session(self, path: str, token: str) -> Session | None:
        """The token's session; on the paths that need none (logging in, refreshing, logging out) a stale token
        is no session rather than a refusal, so that it never stands in the way of getting a fresh one."""
        if path not in OPEN_WRITES:
            return await self.access.verify(token)
        try:
            return await self.access.verify(token)
        except ApiError:
            return None

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
