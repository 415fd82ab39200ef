"""Users and roles: password hashing, the first admin, the token signing key.

Passwords are hashed with scrypt (memory-hard, in the standard library) and a
random salt per user. The first admin is `admin`, with IOTMON_ADMIN_PASSWORD
or a generated password that the start-up prints once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import get_args

import psycopg

from iotmon.core.contracts.common import Role

ROLES: tuple[Role, ...] = get_args(Role)  # each role can do what the ones before it can
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and ~50 ms per hash


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    params = f"{_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}"
    return f"scrypt${params}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def ensure_admin(conn: psycopg.Connection, password: str | None) -> str | None:
    """Create `admin` if there is no admin yet; returns the password when it was generated here."""
    if conn.execute("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").fetchone():
        return None
    chosen = password or secrets.token_urlsafe(12)
    conn.execute(
        "INSERT INTO users (username, password_hash, role) VALUES ('admin', %s, 'admin') ON CONFLICT DO NOTHING",
        (hash_password(chosen),),
    )
    return None if password else chosen


def signing_key(conn: psycopg.Connection) -> str:
    """The service's JWT key: made once, kept in PostgreSQL so that every replica signs alike."""
    conn.execute(
        "INSERT INTO service_settings (name, value) VALUES ('jwt_signing_key', %s) ON CONFLICT DO NOTHING",
        (secrets.token_urlsafe(48),),
    )
    (key,) = conn.execute("SELECT value FROM service_settings WHERE name = 'jwt_signing_key'").fetchone() or ("",)
    return str(key)


def prepare_admin(database_url: str, password: str | None) -> str | None:
    """ensure_admin on its own connection (start-up)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return ensure_admin(conn, password)
