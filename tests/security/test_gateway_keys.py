"""Writing readings needs a credential: gateway API keys, their scope, and their management by admins.

On the session's shared system (tests/conftest.py), whose `gateway` key is the suite's own
(tests/support/auth.py); keys made here are made through the API, as an admin would."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from iotmon.adapters.settings import Settings
from iotmon.service.gateway_keys import TTL_S, GatewayKeys
from iotmon.system import System
from tests.support.auth import GATEWAY_KEY, bearer, gateway_headers
from tests.support.service import error_of, settle


def reading(device: str, seconds_ago: float = 1.0, **extra: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"deviceId": device, "timestamp": at, "sensorType": "temperature", "value": 21.5, "unit": "celsius", **extra}


@pytest.fixture
def admin(service: System, clean_db: str) -> Iterator[httpx.Client]:
    """An admin's client, for managing keys, on a clean database."""
    with httpx.Client(base_url=service.url, timeout=30, headers=bearer(service.url, clean_db, "admin")) as client:
        yield client


def new_key(admin: httpx.Client, **body: Any) -> tuple[dict[str, Any], str]:
    """A key made through the API: (what the API shows of it, its secret)."""
    answer = admin.post("/api/keys", json={"name": "line 1 gateway", **body})
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    return data["key"], data["secret"]


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/api/readings", json=body, headers=headers or {}, timeout=30)


def stored(database_url: str, device: str) -> int:
    with psycopg.connect(database_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM sensor_readings WHERE device_id = %s", (device,)).fetchone()
    return int(count)


def test_anonymous_writes_are_refused_with_what_to_send(url, clean_db):
    refused = error_of(post(url, reading("device-001")), 401, "UNAUTHORIZED")
    assert "X-API-Key" in refused["message"] and "iotmon_gw_" in refused["message"]
    assert "POST /api/auth/login" in refused["message"]


def test_a_viewer_may_not_write_an_operator_may(url, clean_db):
    error_of(post(url, reading("device-001"), bearer(url, clean_db, "viewer")), 403, "FORBIDDEN")
    assert post(url, reading("device-001"), bearer(url, clean_db, "operator")).status_code == 202


def test_a_key_is_accepted_as_a_bearer_token_and_in_x_api_key(url, admin):
    _, secret = new_key(admin)
    assert post(url, reading("device-001", 2), {"Authorization": f"Bearer {secret}"}).status_code == 202
    assert post(url, reading("device-001", 1), {"X-API-Key": secret}).status_code == 202
    assert post(url, reading("device-002"), gateway_headers()).status_code == 202  # the one `iotmon up` ensures


def test_unknown_keys_are_refused(url, clean_db):
    for headers in ({"X-API-Key": "iotmon_gw_made-up"}, {"Authorization": "Bearer iotmon_gw_made-up"}):
        refused = error_of(post(url, reading("device-001"), headers), 401, "INVALID_API_KEY")
        assert "unknown or revoked" in refused["message"]
    error_of(post(url, reading("device-001"), {"X-API-Key": "not-even-a-key"}), 401, "INVALID_API_KEY")


def test_a_revoked_key_is_refused_at_once(url, admin):
    key, secret = new_key(admin)
    headers = {"X-API-Key": secret}
    assert post(url, reading("device-001", 2), headers).status_code == 202  # now in the replica's cache
    revoked = admin.delete(f"/api/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["data"]["revokedAt"] is not None
    error_of(post(url, reading("device-001", 1), headers), 401, "INVALID_API_KEY")
    again = admin.delete(f"/api/keys/{key['id']}")  # revoking twice keeps the first time
    assert again.json()["data"]["revokedAt"] == revoked.json()["data"]["revokedAt"]
    error_of(admin.delete("/api/keys/999999999"), 404, "KEY_NOT_FOUND")
    error_of(admin.delete(f"/api/keys/{2**70}"), 404, "KEY_NOT_FOUND")


def test_another_replica_refuses_a_revoked_key_within_the_cache_lifetime(admin, clean_db):
    """A replica that did not revoke the key itself still has it cached: it refuses the key after TTL_S."""
    _, secret = new_key(admin)
    now = [0.0]

    async def run() -> list[bool]:
        async with AsyncConnectionPool(clean_db, min_size=1, max_size=1) as pool:
            replica = GatewayKeys(pool, clock=lambda: now[0])
            seen = [await replica.writer(secret) is not None]
            async with pool.connection() as conn:
                await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE name = 'line 1 gateway'")
            now[0] += TTL_S - 0.1
            seen.append(await replica.writer(secret) is not None)  # still cached
            now[0] += 0.1
            seen.append(await replica.writer(secret) is not None)  # looked up again: revoked
            return seen

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, run()).result() == [True, True, False]


def test_a_device_out_of_scope_refuses_the_whole_request(service, url, admin, clean_db):
    _, secret = new_key(admin, devices=["device-001"])
    headers = {"X-API-Key": secret}
    batch = {"readings": [reading("device-001", 2), reading("device-002", 2), reading("device-004", 2)]}
    refused = error_of(post(url, batch, headers), 403, "OUT_OF_SCOPE")
    assert "device-002, device-004" in refused["message"] and "device-001" not in refused["message"]
    assert refused["details"] == [{"deviceId": "device-002"}, {"deviceId": "device-004"}]
    assert post(url, reading("device-001", 1), headers).status_code == 202
    settle(service)
    assert stored(clean_db, "device-001") == 1  # the refused batch's reading of device-001 is not there
    assert stored(clean_db, "device-002") == 0


def test_location_scope_goes_by_the_registered_location(url, admin, clean_db):
    _, secret = new_key(admin, locations=["assembly-line-2"])  # device-003 is registered there
    headers = {"X-API-Key": secret}
    # A reading cannot move its device into scope by claiming a location, nor out of it.
    error_of(post(url, reading("device-001", location="assembly-line-2"), headers), 403, "OUT_OF_SCOPE")
    assert post(url, reading("device-003", location="somewhere-else"), headers).status_code == 202
    # A device not registered yet is judged by where its reading says it is.
    error_of(post(url, reading("device-new-1", location="packaging-line-1"), headers), 403, "OUT_OF_SCOPE")
    error_of(post(url, reading("device-new-2"), headers), 403, "OUT_OF_SCOPE")


def test_keys_are_listed_without_secrets_and_stored_hashed(url, admin, clean_db):
    key, secret = new_key(admin, devices=["device-001", "device-001"], locations=["assembly-line-1"])
    assert secret.startswith("iotmon_gw_") and len(secret) >= len("iotmon_gw_") + 43
    assert key["hint"] == secret[:14] and key["devices"] == ["device-001"] and key["createdBy"] == "test-admin"
    assert key["autoRegister"] is False and key["lastUsedAt"] is None and key["revokedAt"] is None
    post(url, reading("device-001"), {"X-API-Key": secret})
    listing = admin.get("/api/keys")
    assert listing.status_code == 200 and secret not in listing.text and secret[14:] not in listing.text
    listed = {k["id"]: k for k in listing.json()["data"]["keys"]}
    assert "secret" not in listed[key["id"]] and listed[key["id"]]["lastUsedAt"] is not None
    assert listing.json()["meta"]["total"] == len(listed)
    with psycopg.connect(clean_db) as conn:
        rows = conn.execute("SELECT api_keys::text, secret_hash FROM api_keys").fetchall()
    assert not any(secret[14:] in text or GATEWAY_KEY[14:] in text for text, _ in rows)
    assert hashlib.sha256(secret.encode()).digest() in {bytes(digest) for _, digest in rows}


def test_only_admins_manage_keys(url, admin, clean_db):
    key, _ = new_key(admin)
    for role in ("viewer", "operator"):
        headers = bearer(url, clean_db, role)
        error_of(httpx.get(f"{url}/api/keys", headers=headers), 403, "FORBIDDEN")
        error_of(httpx.post(f"{url}/api/keys", json={"name": "mine"}, headers=headers), 403, "FORBIDDEN")
        error_of(httpx.delete(f"{url}/api/keys/{key['id']}", headers=headers), 403, "FORBIDDEN")
    # A gateway's key is no login: elsewhere it counts as anonymous.
    error_of(httpx.get(f"{url}/api/keys", headers=gateway_headers()), 401, "UNAUTHORIZED")
    assert httpx.get(f"{url}/api/devices", headers=gateway_headers()).status_code == 200  # anonymous reading
    error_of(httpx.put(f"{url}/api/alerts/alert-001/acknowledge", headers=gateway_headers()), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x", "devices": ["bad id!"]}, {"name": "x", "autoRegister": "yes"}]
)
def test_invalid_keys_are_refused(admin, body):
    error_of(admin.post("/api/keys", json=body), 400, "VALIDATION_ERROR")


def test_a_thousand_made_up_devices_posted_anonymously_change_nothing(service, url, clean_db):
    made_up = [f"probe-{n:04d}" for n in range(1000)]
    error_of(post(url, {"readings": [reading(device, 1) for device in made_up]}), 401, "UNAUTHORIZED")
    with httpx.Client(base_url=url, timeout=30) as client:
        for device in made_up:
            assert client.post("/api/readings", json=reading(device, 1)).status_code == 401
    settle(service)
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (5,)
        assert conn.execute("SELECT count(*) FROM sensor_readings").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)


def test_the_gateway_key_setting_must_look_like_a_key():
    assert Settings.from_env({"IOTMON_GATEWAY_KEY": GATEWAY_KEY}).gateway_key == GATEWAY_KEY
    for bad in ("secret", "iotmon_gw_short"):
        with pytest.raises(ValueError, match="IOTMON_GATEWAY_KEY"):
            Settings.from_env({"IOTMON_GATEWAY_KEY": bad})
