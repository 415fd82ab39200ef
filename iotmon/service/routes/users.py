"""Logging in and out, refreshing tokens, and user management (admins)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from iotmon.adapters.postgres import users
from iotmon.adapters.redis.login_failures import LoginFailures
from iotmon.core.contracts.users import (
    Credentials,
    LoggedOut,
    Login,
    Logout,
    NewUser,
    Refresh,
    User,
    UserDeleted,
    UserList,
    UserListMeta,
    UserUpdate,
    UserUpdated,
)
from iotmon.core.passwords import weakness
from iotmon.core.timestamps import iso
from iotmon.service.access import Access, Issued
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Reply, documented
from iotmon.service.password_work import PasswordWork
from iotmon.service.queries import sessions
from iotmon.service.queries import users as queries
from iotmon.service.requests import body_as
from iotmon.service.responses import ApiError, JSONResponse, ok

log = logging.getLogger(__name__)


@documented(
    body=Credentials,
    responses={
        200: Reply("An access token, a refresh token and the user's role.", data=Login),
        400: "No username or password (VALIDATION_ERROR).",
        401: "Unknown username or wrong password (INVALID_CREDENTIALS).",
        429: "Too many failed logins for this name or from this address (TOO_MANY_ATTEMPTS): see Retry-After.",
        503: "Too many logins at once (BUSY): see Retry-After.",
    },
)
async def login(request: Request) -> JSONResponse:
    """Log in: trade a username and password for a session (a short-lived access token and a refresh token).

    Failed logins are counted per username and per client address; past a few, each one doubles the wait
    before the next attempt is checked."""
    context: ServiceContext = request.app.state.context
    given = await body_as(request, Credentials)
    address = request.client.host if request.client else "unknown"
    failures = LoginFailures(context.redis)
    if wait := await _reserve(failures, given.username, address):
        message = f"too many failed logins: try again in {wait} s"
        raise ApiError(429, "TOO_MANY_ATTEMPTS", message, retry_after=wait)
    async with context.db.connection() as conn:
        found = await queries.credentials(conn, given.username)
    # An unknown name is checked against a hash too, so that its answer takes as long as a known one's.
    stored = found[0] if found else users.unknown_user_hash()
    work: PasswordWork = request.app.state.password_work
    if not await work.run(users.verify_password, given.password, stored) or found is None:
        raise ApiError(401, "INVALID_CREDENTIALS", "unknown username or wrong password")  # (counted already)
    await _count(failures.succeeded(given.username, address))
    if users.needs_rehash(stored):  # made with older parameters: replaced now that the password is known
        upgraded = await work.run(users.hash_password, given.password)
        async with context.db.connection() as conn:
            if await queries.upgrade_password_hash(conn, given.username, stored, upgraded):
                stored = upgraded
    access: Access = request.app.state.access
    return ok(_login(await access.open_session(users.User(given.username, found[1]), stored)))


@documented(
    body=Refresh,
    responses={
        200: Reply("A new access token for the same session.", data=Login),
        400: "No refresh token (VALIDATION_ERROR).",
        401: "The session has ended, or the refresh token is wrong (SESSION_ENDED): log in again.",
    },
)
async def refresh(request: Request) -> JSONResponse:
    """Get a new access token with the refresh token a login gave, until the session ends."""
    access: Access = request.app.state.access
    given = await body_as(request, Refresh)
    return ok(_login(await access.refresh(given.refresh_token)))


@documented(
    body=Logout,
    responses={
        200: Reply("The session has ended.", data=LoggedOut),
        400: 'A body that is not {"refreshToken": …} (VALIDATION_ERROR).',
        401: "Neither a live access token nor the session's refresh token (UNAUTHORIZED, SESSION_ENDED).",
    },
)
async def logout(request: Request) -> JSONResponse:
    """End a session: its access and refresh tokens stop working at once, live connections included.

    The session is the access token's, or, when that has expired, the one of the refresh token in the body."""
    access: Access = request.app.state.access
    given = await body_as(request, Logout, optional=True)
    if given.refresh_token is not None:
        session_id = await access.session_of(given.refresh_token)
    elif request.state.session is not None:
        session_id = request.state.session.session_id
    else:
        raise ApiError(401, "UNAUTHORIZED", 'send the access token, or {"refreshToken": …} in the body')
    await access.end(session_id)
    request.app.state.live_sessions.check_soon()
    return ok(LoggedOut(logged_out=True))


@documented(responses={200: Reply("The users (never their passwords).", data=UserList, meta=UserListMeta)})
async def list_users(request: Request) -> JSONResponse:
    """List the users and their roles."""
    context: ServiceContext = request.app.state.context
    async with context.db.connection() as conn:
        found = await queries.all_users(conn)
    return ok(UserList(users=found), UserListMeta(total=len(found)))


@documented(
    body=NewUser,
    responses={
        201: Reply("Created.", data=User),
        400: "An invalid username or role, or a weak password (VALIDATION_ERROR).",
        409: "The user exists already (USER_EXISTS).",
    },
)
async def create_user(request: Request) -> JSONResponse:
    """Create a user with a role (viewer by default)."""
    context: ServiceContext = request.app.state.context
    new = await body_as(request, NewUser)
    hashed = await _strong_hash(request, new.password, new.username)
    async with context.db.connection() as conn:
        if not await queries.create(conn, new.username, hashed, new.role):
            raise ApiError(409, "USER_EXISTS", f"user {new.username!r} exists already")
    return ok(User(username=new.username, role=new.role), status=201)


@documented(
    path={"username": "The user's name."},
    body=UserUpdate,
    responses={
        200: Reply("Changed; the user's sessions have ended.", data=UserUpdated),
        400: "An invalid role or a weak password (VALIDATION_ERROR).",
        404: "No such user (USER_NOT_FOUND).",
        409: "An admin cannot change their own role (CANNOT_DEMOTE_SELF).",
    },
)
async def update_user(request: Request) -> JSONResponse:
    """Change a user's role or password. Either ends every session of the user at once."""
    context: ServiceContext = request.app.state.context
    username = request.path_params["username"]
    change = await body_as(request, UserUpdate)
    role = change.role or None
    if role is not None and username == request.state.user.name and role != request.state.user.role:
        raise ApiError(409, "CANNOT_DEMOTE_SELF", "an admin cannot change their own role: ask another admin")
    hashed = await _strong_hash(request, change.password, username) if change.password else None
    async with context.db.connection() as conn, conn.transaction():
        now_role = await queries.update(conn, username, role, hashed)
        if now_role is None:
            raise ApiError(404, "USER_NOT_FOUND", f"no user {username!r}")
        ended = await sessions.end_all(conn, username)
    request.app.state.live_sessions.check_soon()
    log.info("user changed", extra={"username": username, "by": request.state.user.name, "sessionsEnded": ended})
    return ok(UserUpdated(username=username, role=now_role, sessions_ended=ended))


@documented(
    path={"username": "The user's name."},
    responses={
        200: Reply("Deleted; the user's sessions have ended.", data=UserDeleted),
        404: "No such user (USER_NOT_FOUND).",
        409: "An admin cannot delete their own account (CANNOT_DELETE_SELF).",
    },
)
async def delete_user(request: Request) -> JSONResponse:
    """Delete a user; its sessions end at once."""
    context: ServiceContext = request.app.state.context
    username = request.path_params["username"]
    if username == request.state.user.name:
        raise ApiError(409, "CANNOT_DELETE_SELF", "an admin cannot delete their own account")
    async with context.db.connection() as conn:
        if not await queries.delete(conn, username):  # (its sessions go with it: ON DELETE CASCADE)
            raise ApiError(404, "USER_NOT_FOUND", f"no user {username!r}")
    request.app.state.live_sessions.check_soon()
    return ok(UserDeleted(username=username, deleted=True))


def _login(issued: Issued) -> Login:
    return Login(
        token=issued.token,
        token_type="Bearer",
        username=issued.user.name,
        role=issued.user.role,
        expires_at=iso(issued.expires),
        refresh_token=issued.refresh_token,
        session_expires_at=iso(issued.session_expires),
    )


async def _strong_hash(request: Request, password: str, username: str) -> str:
    """The password's hash; 400 if it is too weak."""
    if problem := await run_in_threadpool(weakness, password, username):
        raise ApiError(400, "VALIDATION_ERROR", problem, [{"field": "password", "reason": problem}])
    work: PasswordWork = request.app.state.password_work
    return await work.run(users.hash_password, password)


async def _reserve(failures: LoginFailures, username: str, address: str) -> int:
    try:
        return await failures.reserve(username, address)
    except Exception as problem:  # Redis down: logins go on, unthrottled, as the rate limit does
        log.warning("login throttle unavailable", extra={"error": str(problem)})
        return 0


async def _count(update: Awaitable[None]) -> None:
    try:
        await update
    except Exception as problem:
        log.warning("login throttle unavailable", extra={"error": str(problem)})


ROUTES = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/refresh", refresh, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{username}", update_user, methods=["PUT"]),
    Route("/api/users/{username}", delete_user, methods=["DELETE"]),
]
