"""Logging in, and user management (admins)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from iotmon.adapters.postgres import users
from iotmon.core.contracts.users import Credentials, Login, NewUser, User, UserDeleted, UserList, UserListMeta
from iotmon.core.timestamps import iso
from iotmon.service.access import Access
from iotmon.service.context import ServiceContext
from iotmon.service.openapi import Reply, documented
from iotmon.service.queries import users as queries
from iotmon.service.requests import body_as
from iotmon.service.responses import ApiError, JSONResponse, ok


@documented(
    body=Credentials,
    responses={
        200: Reply("A bearer token and the user's role.", data=Login),
        400: "No username or password (VALIDATION_ERROR).",
        401: "Unknown username or wrong password (INVALID_CREDENTIALS), or a bad token sent along.",
    },
)
async def login(request: Request) -> JSONResponse:
    """Log in: trade a username and password for a JWT bearer token carrying the role."""
    access: Access = request.app.state.access
    context: ServiceContext = request.app.state.context
    given = await body_as(request, Credentials)
    async with context.db.connection() as conn:
        found = await queries.credentials(conn, given.username)
    # The hash is checked even for an unknown user, so timing does not tell which names exist.
    valid = await run_in_threadpool(
        users.verify_password, given.password, found[0] if found else users.hash_password("x")
    )
    if not found or not valid:
        raise ApiError(401, "INVALID_CREDENTIALS", "unknown username or wrong password")
    user = users.User(given.username, found[1])
    token, expires = access.issue(user)
    expires_at = iso(datetime.fromtimestamp(expires, UTC))
    return ok(Login(token=token, token_type="Bearer", username=user.name, role=user.role, expires_at=expires_at))


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
        400: "An invalid username, password or role (VALIDATION_ERROR).",
        409: "The user exists already (USER_EXISTS).",
    },
)
async def create_user(request: Request) -> JSONResponse:
    """Create a user with a role (viewer by default)."""
    context: ServiceContext = request.app.state.context
    new = await body_as(request, NewUser)
    hashed = await run_in_threadpool(users.hash_password, new.password)
    async with context.db.connection() as conn:
        if not await queries.create(conn, new.username, hashed, new.role):
            raise ApiError(409, "USER_EXISTS", f"user {new.username!r} exists already")
    return ok(User(username=new.username, role=new.role), status=201)


@documented(
    path={"username": "The user's name."},
    responses={
        200: Reply("Deleted.", data=UserDeleted),
        404: "No such user (USER_NOT_FOUND).",
        409: "An admin cannot delete their own account (CANNOT_DELETE_SELF).",
    },
)
async def delete_user(request: Request) -> JSONResponse:
    """Delete a user."""
    context: ServiceContext = request.app.state.context
    username = request.path_params["username"]
    if username == request.state.user.name:
        raise ApiError(409, "CANNOT_DELETE_SELF", "an admin cannot delete their own account")
    async with context.db.connection() as conn:
        if not await queries.delete(conn, username):
            raise ApiError(404, "USER_NOT_FOUND", f"no user {username!r}")
    return ok(UserDeleted(username=username, deleted=True))


ROUTES = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{username}", delete_user, methods=["DELETE"]),
]
