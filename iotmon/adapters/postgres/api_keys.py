"""Gateway API keys in PostgreSQL: made, listed and revoked by admins, looked up by their digest.

Only the digest of a key is stored (iotmon.core.api_keys). The first start
makes the key named `gateway` (unrestricted, registering new devices) with
IOTMON_GATEWAY_KEY, or a generated key that the start-up prints once.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection

from iotmon.core import api_keys
from iotmon.core.contracts.keys import ApiKey, NewApiKey
from iotmon.core.timestamps import iso
from iotmon.core.writers import Writer

GATEWAY = "gateway"
MAX_ID = 2**63 - 1
_COLUMNS = "id, name, hint, devices, locations, auto_register, created_by, created_at, last_used_at, revoked_at"
_INSERT = (
    "INSERT INTO api_keys (name, secret_hash, hint, devices, locations, auto_register, created_by)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (secret_hash) DO NOTHING"
)


def _key(row: tuple[Any, ...]) -> ApiKey:
    id_, name, hint, devices, locations, auto_register, created_by, created, used, revoked = row
    return ApiKey(
        id=id_,
        name=name,
        hint=hint,
        devices=list(devices),
        locations=list(locations),
        auto_register=auto_register,
        created_by=created_by,
        created_at=iso(created),
        last_used_at=None if used is None else iso(used),
        revoked_at=None if revoked is None else iso(revoked),
    )


def ensure_gateway_key(conn: psycopg.Connection, key: str | None) -> str | None:
    """The `gateway` key: IOTMON_GATEWAY_KEY's, added when missing (a revoked one stays revoked), or on the first
    start a generated one, returned so that the caller can show it once."""
    if key is None and conn.execute("SELECT 1 FROM api_keys WHERE name = %s LIMIT 1", (GATEWAY,)).fetchone():
        return None
    chosen = key or api_keys.new_key()
    conn.execute(_INSERT, (GATEWAY, api_keys.digest(chosen), api_keys.hint(chosen), [], [], True, "iotmon up"))
    return None if key else chosen


def prepare_gateway_key(database_url: str, key: str | None) -> str | None:
    """ensure_gateway_key on its own connection (start-up)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return ensure_gateway_key(conn, key)


async def create(conn: AsyncConnection[Any], new: NewApiKey, created_by: str) -> tuple[ApiKey, str]:
    """A new key and its secret (which is not kept)."""
    secret = api_keys.new_key()
    cursor = await conn.execute(
        _INSERT + f" RETURNING {_COLUMNS}",
        (
            new.name,
            api_keys.digest(secret),
            api_keys.hint(secret),
            sorted(set(new.devices)),
            sorted(set(new.locations)),
            new.auto_register,
            created_by,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None, "a new 256-bit key cannot collide"
    return _key(row), secret


async def all_keys(conn: AsyncConnection[Any]) -> list[ApiKey]:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY revoked_at IS NOT NULL, name, id")
    return [_key(row) for row in await cursor.fetchall()]


async def revoke(conn: AsyncConnection[Any], key_id: int) -> ApiKey | None:
    """The key, revoked now (or when it was already); None when there is no such key."""
    if key_id > MAX_ID:  # no such BIGSERIAL; PostgreSQL would refuse the number itself
        return None
    cursor = await conn.execute(
        f"UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s RETURNING {_COLUMNS}", (key_id,)
    )
    row = await cursor.fetchone()
    return None if row is None else _key(row)


async def writer(conn: AsyncConnection[Any], key: str) -> Writer | None:
    """Who writes with this key, or None for an unknown or revoked key; notes its use, at most once a minute."""
    cursor = await conn.execute(
        "WITH found AS ("
        "  SELECT id, name, devices, locations, auto_register, last_used_at FROM api_keys"
        "  WHERE secret_hash = %s AND revoked_at IS NULL),"
        " touched AS ("
        "  UPDATE api_keys SET last_used_at = now() WHERE id IN ("
        "    SELECT id FROM found WHERE last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))"
        " SELECT name, devices, locations, auto_register FROM found",
        (api_keys.digest(key),),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    name, devices, locations, auto_register = row
    return Writer(name, frozenset(devices), frozenset(locations), auto_register)


def find_writer(conn: psycopg.Connection, key: str) -> Writer | None:
    """Who writes with this key (a long-lived bridge looks it up once at start), or None if unknown or revoked."""
    row = conn.execute(
        "SELECT name, devices, locations, auto_register FROM api_keys WHERE secret_hash = %s AND revoked_at IS NULL",
        (api_keys.digest(key),),
    ).fetchone()
    if row is None:
        return None
    name, devices, locations, auto_register = row
    return Writer(name, frozenset(devices), frozenset(locations), auto_register)
