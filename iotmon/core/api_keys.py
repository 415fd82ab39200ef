"""Gateway API keys (pure): how a key looks, how one is made and how it is stored.

A key is `iotmon_gw_` and 256 random bits (43 URL-safe characters). The prefix
lets a reader (and a secret scanner) tell a key from a login token at a glance.
Only its SHA-256 digest is stored: a slow, salted hash (as for passwords) is
there to make guessing a low-entropy secret expensive, but nobody can guess
256 random bits, so one fast hash is as safe and keeps the check cheap enough
for every request.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "iotmon_gw_"
SECRET_BYTES = 32  # 256 bits
MIN_SECRET_CHARS = 32  # after the prefix, for keys chosen by the operator (IOTMON_GATEWAY_KEY)
HINT_CHARS = 4  # of the secret, kept in clear so that a listed key can be told from another


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def is_key(credential: str) -> bool:
    """Whether a credential is meant as an API key (rather than a login token)."""
    return credential.startswith(PREFIX)


def problem(key: str) -> str | None:
    """Why a key chosen by hand is unfit, or None."""
    if not is_key(key) or len(key) - len(PREFIX) < MIN_SECRET_CHARS:
        return (
            f"an API key is {PREFIX} and at least {MIN_SECRET_CHARS} random characters; make one with"
            " python3 -c 'import secrets; print(\"iotmon_gw_\" + secrets.token_urlsafe(32))'"
        )
    return None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def hint(key: str) -> str:
    """What a listing shows of a key: the prefix and its first characters."""
    return key[: len(PREFIX) + HINT_CHARS]
