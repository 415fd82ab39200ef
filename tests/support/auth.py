"""Users with known passwords, and their tokens, for tests of the secured API."""

from __future__ import annotations

import httpx
import psycopg

from iotmon.adapters.postgres.users import hash_password

PASSWORD = "correct horse battery"
# The `gateway` API key of every system the tests start (running_system, Up and the subprocess systems' env).
GATEWAY_KEY = "iotmon_gw_the-test-suites-own-gateway-key-0000000"
GATEWAY_ENV = {"IOTMON_GATEWAY_KEY": GATEWAY_KEY}


def gateway_headers() -> dict[str, str]:
    """What a gateway sends to POST /api/readings: the suite's unrestricted, auto-registering key."""
    return {"Authorization": f"Bearer {GATEWAY_KEY}"}


def ensure_user(database_url: str, username: str, role: str, password: str = PASSWORD) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s)"
            " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role",
            (username, hash_password(password), role),
        )


def token(base_url: str, database_url: str, role: str) -> str:
    """A fresh token of a user `test-<role>` with that role."""
    username = f"test-{role}"
    ensure_user(database_url, username, role)
    answer = httpx.post(f"{base_url}/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]["token"]


def bearer(base_url: str, database_url: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(base_url, database_url, role)}"}
