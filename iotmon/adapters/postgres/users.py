"""Users and roles: password hashing and the first admin.

Passwords are hashed with Argon2id (argon2-cffi) at OWASP's parameters: 19 MiB
of memory, two passes, a random salt per user. Hashes made before, with
scrypt, still verify, and are replaced by Argon2id at the next login. The
first admin is `admin`, with IOTMON_ADMIN_PASSWORD or a generated password that
the start-up prints once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import get_args

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from iotmon.core.contracts.common import Role

ROLES: tuple[Role, ...] = get_args(Role)  # each role can do what the ones before it can
_ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # ~50 ms per hash here


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str) -> str:
    return _ARGON2.hash(password)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _ARGON2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a verified hash should be replaced by one at today's parameters."""
    return stored.startswith("scrypt$") or _ARGON2.check_needs_rehash(stored)


@functools.cache
def unknown_user_hash() -> str:
    """What a login of a name no user has is checked against, so that it costs what a real one costs."""
    return hash_password(secrets.token_urlsafe(16))


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
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


def prepare_admin(database_url: str, password: str | None) -> str | None:
    """ensure_admin on its own connection (start-up)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return ensure_admin(conn, password)
