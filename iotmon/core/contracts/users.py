"""Logins and users."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.contracts.common import Body, Contract, Line, MetaFields, Role, Timestamp
from iotmon.core.passwords import MAX_LENGTH, MIN_LENGTH

Username = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,50}(?!\n)$", description="1–50 letters, digits, . _ -")
]


class Credentials(Body):
    """The body of POST /api/auth/login."""

    username: Annotated[Line, msgspec.Meta(max_length=50)]
    password: Annotated[Line, msgspec.Meta(max_length=MAX_LENGTH)]


NewPassword = Annotated[
    Line,
    msgspec.Meta(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description=f"At least {MIN_LENGTH} characters, and not easy to guess (common passwords are refused).",
    ),
]


class Login(Contract):
    """A login's (or a refresh's) answer."""

    token: Annotated[str, msgspec.Meta(description="The access token, minutes long: `Authorization: Bearer <token>`.")]
    token_type: Literal["Bearer"]
    username: str
    role: Role
    expires_at: Annotated[Timestamp, msgspec.Meta(description="When the access token expires.")]
    refresh_token: Annotated[
        str, msgspec.Meta(description="Gets a new access token at POST /api/auth/refresh until the session ends.")
    ]
    session_expires_at: Annotated[Timestamp, msgspec.Meta(description="When the session ends: log in again then.")]


class Refresh(Body):
    """The body of POST /api/auth/refresh."""

    refresh_token: Annotated[Line, msgspec.Meta(max_length=200)]


class Logout(Body):
    """The body of POST /api/auth/logout, when the access token has expired: the session's refresh token."""

    refresh_token: Annotated[Line, msgspec.Meta(max_length=200)] | None = None


class LoggedOut(Contract):
    logged_out: Literal[True]


class NewUser(Body):
    """The body of POST /api/users."""

    username: Username
    password: NewPassword
    role: Role = "viewer"


class UserUpdate(Body):
    """The body of PUT /api/users/{username}: a new role, a new password, or both. Either ends the user's
    sessions."""

    role: Role | msgspec.UnsetType = msgspec.UNSET
    password: NewPassword | msgspec.UnsetType = msgspec.UNSET


class User(Contract):
    username: str
    role: Role
    created_at: Timestamp | msgspec.UnsetType = msgspec.UNSET


class UserList(Contract):
    users: list[User]


class UserListMeta(MetaFields):
    total: int


class UserUpdated(Contract):
    username: str
    role: Role
    sessions_ended: Annotated[int, msgspec.Meta(description="Open sessions ended by the change.")]


class UserDeleted(Contract):
    username: str
    deleted: Literal[True]
