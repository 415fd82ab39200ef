"""Users in PostgreSQL, for login and user management."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from iotmon.core.contracts.common import Role
from iotmon.core.contracts.users import User
from iotmon.core.timestamps import iso


async def credentials(conn: AsyncConnection[Any], username: str) -> tuple[str, Role] | None:
    """(password hash, role) of a user, or None. (The table's CHECK keeps roles to the three.)"""
    if "\x00" in username:  # PostgreSQL text cannot hold NUL: no such user
        return None
    cursor = await conn.execute("SELECT password_hash, role FROM users WHERE username = %s", (username,))
    found = await cursor.fetchone()
    return None if found is None else (found[0], found[1])


async def all_users(conn: AsyncConnection[Any]) -> list[User]:
    cursor = await conn.execute("SELECT username, role, created_at FROM users ORDER BY username")
    return [User(username=name, role=role, created_at=iso(created)) for name, role, created in await cursor.fetchall()]


async def create(conn: AsyncConnection[Any], username: str, password_hash: str, role: str) -> bool:
    """False when the user exists already."""
    cursor = await conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (username, password_hash, role),
    )
    return await cursor.fetchone() is not None


async def delete(conn: AsyncConnection[Any], username: str) -> bool:
    """False when there was no such user."""
    if "\x00" in username:
        return False
    cursor = await conn.execute("DELETE FROM users WHERE username = %s RETURNING 1", (username,))
    return await cursor.fetchone() is not None


async def update(conn: AsyncConnection[Any], username: str, role: str | None, password_hash: str | None) -> Role | None:
    """Set the role and/or the password hash; the user's role after, or None when there is no such user."""
    cursor = await conn.execute(
        "UPDATE users SET role = coalesce(%s, role), password_hash = coalesce(%s, password_hash), updated_at = now()"
        " WHERE username = %s RETURNING role",
        (role, password_hash, username),
    )
    found = await cursor.fetchone()
    return None if found is None else found[0]


async def upgrade_password_hash(conn: AsyncConnection[Any], username: str, old: str, new: str) -> bool:
    """Replace the hash `old` by `new` (the same password at today's parameters), unless the password was
    changed meanwhile; whether it was replaced."""
    cursor = await conn.execute(
        "UPDATE users SET password_hash = %s WHERE username = %s AND password_hash = %s RETURNING 1",
        (new, username, old),
    )
    return await cursor.fetchone() is not None
