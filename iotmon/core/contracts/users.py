"""Logins and users."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.contracts.common import Body, Contract, MetaFields, Role, Timestamp

Username = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,50}$", description="1–50 letters, digits, . _ -")]
MIN_PASSWORD = 8


class Credentials(Body):
    """The body of POST /api/auth/login."""

    username: str
    password: str


class Login(Contract):
    token: Annotated[str, msgspec.Meta(description="Send it as `Authorization: Bearer <token>`.")]
    token_type: Literal["Bearer"]
    username: str
    role: Role
    expires_at: Timestamp


class NewUser(Body):
    """The body of POST /api/users."""

    username: Username
    password: Annotated[str, msgspec.Meta(min_length=MIN_PASSWORD)]
    role: Role = "viewer"


class User(Contract):
    username: str
    role: Role
    created_at: Timestamp | msgspec.UnsetType = msgspec.UNSET


class UserList(Contract):
    users: list[User]


class UserListMeta(MetaFields):
    total: int


class UserDeleted(Contract):
    username: str
    deleted: Literal[True]
