"""Login sessions in PostgreSQL: opened at login, checked on every authenticated request, ended at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from iotmon.core.contracts.common import Role

# Only while the password is still the one just checked: a change (or a deletion) in between wins.
_OPEN_SQL = """
INSERT INTO sessions (id, username, refresh_hash, expires_at)
SELECT %s, username, %s, %s FROM users WHERE username = %s AND password_hash = %s
RETURNING 1
"""
_LIVE_ROLE_SQL = """
SELECT u.role FROM sessions s JOIN users u ON u.username = s.username
WHERE s.id = %s AND s.username = %s AND s.revoked_at IS NULL AND s.expires_at > now()
"""
_REFRESH_SQL = """
SELECT s.username, u.role, s.refresh_hash, s.expires_at FROM sessions s JOIN users u ON u.username = s.username
WHERE s.id = %s AND s.revoked_at IS NULL AND s.expires_at > now()
"""
_EXPIRED_SQL = "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'"


async def open_session(
    conn: AsyncConnection[Any],
    session_id: str,
    username: str,
    password_hash: str,
    refresh_hash: bytes,
    expires_at: datetime,
) -> bool:
    """Open a session for the user, if its password hash is still `password_hash`; whether it was opened."""
    await conn.execute(_EXPIRED_SQL)  # (logins are rare: the table is kept small on the way)
    cursor = await conn.execute(_OPEN_SQL, (session_id, refresh_hash, expires_at, username, password_hash))
    return await cursor.fetchone() is not None


async def live_role(conn: AsyncConnection[Any], session_id: str, username: str) -> Role | None:
    """The user's role if the session is open, else None (ended, expired, or the user is gone)."""
    found = await (await conn.execute(_LIVE_ROLE_SQL, (session_id, username))).fetchone()
    return None if found is None else found[0]


async def live_ones(conn: AsyncConnection[Any], session_ids: list[str]) -> set[str]:
    """Which of these sessions are still open."""
    cursor = await conn.execute(
        "SELECT id FROM sessions WHERE id = ANY(%s) AND revoked_at IS NULL AND expires_at > now()", (session_ids,)
    )
    return {row[0] for row in await cursor.fetchall()}


async def for_refresh(conn: AsyncConnection[Any], session_id: str) -> tuple[str, Role, bytes, datetime] | None:
    """(username, role, refresh hash, expiry) of an open session, or None."""
    found = await (await conn.execute(_REFRESH_SQL, (session_id,))).fetchone()
    return None if found is None else (found[0], found[1], bytes(found[2]), found[3])


async def end(conn: AsyncConnection[Any], session_id: str) -> None:
    await conn.execute("UPDATE sessions SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (session_id,))


async def end_all(conn: AsyncConnection[Any], username: str) -> int:
    """End every open session of the user; how many."""
    cursor = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE username = %s AND revoked_at IS NULL", (username,)
    )
    return cursor.rowcount
