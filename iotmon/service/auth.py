"""Authentication and roles: JWT bearer tokens, login, user management, access control.

POST /api/auth/login trades a username and password for a token (HS256, signed
with the key kept in PostgreSQL, so any replica accepts it) carrying the role.
Reading is open to viewers, and to anonymous clients unless
IOTMON_ANONYMOUS_READ=false; writes (acknowledge, resolve, silences, device
configuration) need an operator, user management an admin. POST /api/readings
stays open: it is the gateways' ingest path, validated and rate-limited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from iotmon.adapters.postgres import users
from iotmon.service.openapi import Reply, documented, obj
from iotmon.service.responses import ApiError, JSONResponse, error, iso, ok

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


def required_role(method: str, path: str, anonymous_read: bool) -> str | None:
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
            if needed and user is None:
                raise ApiError(
                    401,
                    "UNAUTHORIZED",
                    f"this needs {_article(needed)} {needed} token: Authorization: Bearer <token> from POST /api/auth/login",
                )
            if needed and not user.can(needed):
                raise ApiError(403, "FORBIDDEN", f"this needs the {needed} role; {user.name} is {user.role}")
        except ApiError as denied:
            response = error(denied.status, denied.code, denied.message, denied.details)
            response.headers["WWW-Authenticate"] = "Bearer"
            return await response(scope, receive, send)
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


async def _json_object(request: Request) -> dict[str, Any]:
    try:  # msgspec, like the other endpoints: it refuses lone surrogates, which no encoder (or PostgreSQL) takes
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        raise ApiError(400, "VALIDATION_ERROR", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "VALIDATION_ERROR", "the body must be a JSON object")
    return body


@documented(
    body=obj({"username": {"type": "string"}, "password": {"type": "string"}}, ["username", "password"]),
    responses={
        200: Reply(
            "A bearer token and the user's role.",
            data=obj(
                {
                    "token": {"type": "string"},
                    "tokenType": {"const": "Bearer"},
                    "username": {"type": "string"},
                    "role": {"enum": list(users.ROLES)},
                    "expiresAt": {"type": "string"},
                },
                ["token", "tokenType", "username", "role", "expiresAt"],
            ),
        ),
        400: "No username or password (VALIDATION_ERROR).",
        401: "Unknown username or wrong password (INVALID_CREDENTIALS), or a bad token sent along.",
    },
)
async def login(request: Request) -> JSONResponse:
    """Log in: trade a username and password for a JWT bearer token carrying the role."""
    access: Access = request.app.state.access
    body = await _json_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "VALIDATION_ERROR", "username and password (strings) are required")
    row = None
    if "\x00" not in username:  # PostgreSQL text cannot hold NUL: no such user
        async with request.app.state.context.db.connection() as conn:
            row = await (
                await conn.execute("SELECT password_hash, role FROM users WHERE username = %s", (username,))
            ).fetchone()
    # The hash is checked even for an unknown user, so timing does not tell which names exist.
    valid = await run_in_threadpool(users.verify_password, password, row[0] if row else users.hash_password("x"))
    if not row or not valid:
        raise ApiError(401, "INVALID_CREDENTIALS", "unknown username or wrong password")
    user = users.User(username, row[1])
    token, expires = access.issue(user)
    return ok(
        {"token": token, "tokenType": "Bearer", "username": username, "role": user.role, "expiresAt": iso_at(expires)}
    )


@documented(
    responses={200: Reply("The users (never their passwords).", data=obj({"users": {"type": "array"}}, ["users"]))}
)
async def list_users(request: Request) -> JSONResponse:
    """List the users and their roles."""
    async with request.app.state.context.db.connection() as conn:
        rows = await (await conn.execute("SELECT username, role, created_at FROM users ORDER BY username")).fetchall()
    found = [{"username": name, "role": role, "createdAt": iso(created)} for name, role, created in rows]
    return ok({"users": found}, {"total": len(found)})


@documented(
    body=obj(
        {"username": {"type": "string"}, "password": {"type": "string"}, "role": {"enum": list(users.ROLES)}},
        ["username", "password"],
    ),
    responses={
        201: Reply(
            "Created.", data=obj({"username": {"type": "string"}, "role": {"type": "string"}}, ["username", "role"])
        ),
        400: "An invalid username, password or role (VALIDATION_ERROR).",
        409: "The user exists already (USER_EXISTS).",
    },
)
async def create_user(request: Request) -> JSONResponse:
    """Create a user with a role (viewer by default)."""
    body = await _json_object(request)
    username, password, role = body.get("username", ""), body.get("password", ""), body.get("role", "viewer")
    if not all(isinstance(v, str) for v in (username, password, role)):
        raise ApiError(400, "VALIDATION_ERROR", "username, password and role must be strings")
    problems = users.check_new(username, password, role)
    if problems:
        raise ApiError(400, "VALIDATION_ERROR", "the user is not valid", problems)
    hashed = await run_in_threadpool(users.hash_password, password)
    async with request.app.state.context.db.connection() as conn:
        created = await (
            await conn.execute(
                "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (username, hashed, role),
            )
        ).fetchone()
    if not created:
        raise ApiError(409, "USER_EXISTS", f"user {username!r} exists already")
    return ok({"username": username, "role": role}, status=201)


@documented(
    path={"username": "The user's name."},
    responses={
        200: Reply(
            "Deleted.", data=obj({"username": {"type": "string"}, "deleted": {"const": True}}, ["username", "deleted"])
        ),
        404: "No such user (USER_NOT_FOUND).",
        409: "An admin cannot delete their own account (CANNOT_DELETE_SELF).",
    },
)
async def delete_user(request: Request) -> JSONResponse:
    """Delete a user."""
    username = request.path_params["username"]
    if username == request.state.user.name:
        raise ApiError(409, "CANNOT_DELETE_SELF", "an admin cannot delete their own account")
    gone = None
    if "\x00" not in username:  # PostgreSQL text cannot hold NUL: no such user
        async with request.app.state.context.db.connection() as conn:
            gone = await (
                await conn.execute("DELETE FROM users WHERE username = %s RETURNING 1", (username,))
            ).fetchone()
    if not gone:
        raise ApiError(404, "USER_NOT_FOUND", f"no user {username!r}")
    return ok({"username": username, "deleted": True})


def iso_at(epoch: float) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))


ROUTES = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{username}", delete_user, methods=["DELETE"]),
]
