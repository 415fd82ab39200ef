"""Security of the service: tokens and roles, users, the shared rate limit, headers, CORS, the Socket.IO handshake.

`url` is the session's shared system (tests/conftest.py); the tests of the rate limit, CORS and
anonymous reading start systems of their own, with those settings."""

from __future__ import annotations

from datetime import UTC

import httpx
import jwt
import psycopg
import pytest
import redis
import socketio

from iotmon.adapters.postgres import users
from tests.support.auth import PASSWORD, bearer, ensure_user, gateway_headers, token
from tests.support.service import TEST_JWT_KEYS, running_system

STRONG = "plated-ferry-comet-87"


def test_login_gives_a_token_with_the_role(url, database_url):
    ensure_user(database_url, "olivia", "operator")
    answer = httpx.post(f"{url}/api/auth/login", json={"username": "olivia", "password": PASSWORD})
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["role"] == "operator" and data["tokenType"] == "Bearer" and data["expiresAt"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "olivia", "password": "wrong password"}, 401, "INVALID_CREDENTIALS"),
        ({"username": "nobody", "password": PASSWORD}, 401, "INVALID_CREDENTIALS"),
        ({"username": "olivia"}, 400, "VALIDATION_ERROR"),
        ([1, 2], 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_logins(url, database_url, body, status, code):
    ensure_user(database_url, "olivia", "operator")
    answer = httpx.post(f"{url}/api/auth/login", json=body)
    assert answer.status_code == status and answer.json()["error"]["code"] == code


# Role × action. A write to a path that does not exist shows the check itself:
# refused before routing (401/403), or let through to the router (404).
MATRIX = [
    # (method, path, anonymous, viewer, operator, admin)
    ("GET", "/api/devices", 200, 200, 200, 200),
    ("POST", "/api/readings", 401, 403, 400, 400),  # gateways' keys (tests/security) or operators; empty body refused
    ("PUT", "/api/some/write", 401, 403, 404, 404),
    ("PUT", "/api/alerts/alert-999999/acknowledge", 401, 403, 404, 404),
    ("PUT", "/api/alerts/alert-999999/resolve", 401, 403, 404, 404),
    ("POST", "/api/silences", 401, 403, 400, 400),
    ("DELETE", "/api/silences/999999", 401, 403, 404, 404),
    ("PUT", "/api/devices/device-999/config", 401, 403, 400, 400),  # the empty body is refused first
    ("GET", "/api/alerts", 200, 200, 200, 200),
    ("GET", "/api/users", 401, 403, 403, 200),
    ("POST", "/api/users", 401, 403, 403, 400),
    ("PUT", "/api/users/nobody", 401, 403, 403, 400),
    ("POST", "/api/auth/logout", 401, 200, 200, 200),
    ("POST", "/api/auth/refresh", 400, 400, 400, 400),  # open: the refresh token is the credential
    ("GET", "/api/keys", 401, 403, 403, 200),
    ("POST", "/api/keys", 401, 403, 403, 400),
    ("DELETE", "/api/keys/999999", 401, 403, 403, 404),
]


@pytest.mark.parametrize(("method", "path", *("anonymous", "viewer", "operator", "admin")), MATRIX)
def test_the_role_matrix(url, database_url, method, path, anonymous, viewer, operator, admin):
    for role, expected in (("anonymous", anonymous), ("viewer", viewer), ("operator", operator), ("admin", admin)):
        headers = {} if role == "anonymous" else bearer(url, database_url, role)
        answer = httpx.request(method, f"{url}{path}", headers=headers, content=b"")
        assert answer.status_code == expected, (role, method, path, answer.text)
        if expected in (401, 403):
            assert answer.json()["success"] is False and answer.headers["www-authenticate"] == "Bearer"


def test_bad_and_expired_tokens_are_refused(url, database_url):
    good = token(url, database_url, "viewer")
    forged = jwt.encode(
        {"sub": "mallory", "role": "admin", "exp": 9999999999},
        "a key of the right length but not the service's",
        algorithm="HS256",
    )
    for bad, code in ((good[:-3] + "abc", "INVALID_TOKEN"), (forged, "INVALID_TOKEN"), ("garbage", "INVALID_TOKEN")):
        answer = httpx.get(f"{url}/api/devices", headers={"Authorization": f"Bearer {bad}"})
        assert answer.status_code == 401 and answer.json()["error"]["code"] == code
    kid, _, key = TEST_JWT_KEYS.partition(":")
    claims = {"sub": "test-viewer", "role": "viewer", "sid": "0" * 32, "exp": 1}
    expired = jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})
    answer = httpx.get(f"{url}/api/devices", headers={"Authorization": f"Bearer {expired}"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "TOKEN_EXPIRED"


def test_admins_manage_users(url, database_url):
    admin = bearer(url, database_url, "admin")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE username = 'victor'")
    created = httpx.post(
        f"{url}/api/users", headers=admin, json={"username": "victor", "password": STRONG, "role": "viewer"}
    )
    assert created.status_code == 201
    again = httpx.post(
        f"{url}/api/users", headers=admin, json={"username": "victor", "password": STRONG, "role": "viewer"}
    )
    assert again.status_code == 409
    bad = httpx.post(f"{url}/api/users", headers=admin, json={"username": "a b", "password": "short", "role": "boss"})
    assert bad.status_code == 400 and len(bad.json()["error"]["details"]) == 3
    assert "victor" in [u["username"] for u in httpx.get(f"{url}/api/users", headers=admin).json()["data"]["users"]]
    assert httpx.post(f"{url}/api/auth/login", json={"username": "victor", "password": STRONG}).status_code == 200
    assert httpx.delete(f"{url}/api/users/victor", headers=admin).status_code == 200
    assert httpx.delete(f"{url}/api/users/victor", headers=admin).status_code == 404
    assert httpx.delete(f"{url}/api/users/test-admin", headers=admin).status_code == 409


def test_passwords_are_stored_as_argon2id_hashes(database_url):
    ensure_user(database_url, "olivia", "operator")
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE username = 'olivia'").fetchone()[0]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and PASSWORD not in stored
    assert users.verify_password(PASSWORD, stored) and not users.verify_password(PASSWORD + "!", stored)


def test_the_first_admin_gets_the_configured_or_a_generated_password(database_url):
    with psycopg.connect(database_url) as conn:
        with conn.transaction(force_rollback=True):
            conn.execute("DELETE FROM users WHERE role = 'admin'")
            assert users.ensure_admin(conn, "from-the-environment") is None
            stored = conn.execute("SELECT password_hash FROM users WHERE username = 'admin'").fetchone()[0]
            assert users.verify_password("from-the-environment", stored)
        with conn.transaction(force_rollback=True):
            conn.execute("DELETE FROM users WHERE role = 'admin'")
            generated = users.ensure_admin(conn, None)
            assert generated and len(generated) >= 12
            assert users.ensure_admin(conn, None) is None  # only once


def test_security_headers_on_the_api_and_the_page(url):
    for path in ("/api/devices", "/api/nothing", "/"):
        headers = httpx.get(f"{url}{path}").headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_the_rate_limit_is_shared_by_replicas(database_url, redis_url, tmp_path):
    with (
        running_system(database_url, redis_url, tmp_path / "a", rate_limit_per_minute=6) as first_system,
        running_system(database_url, redis_url, tmp_path / "b", rate_limit_per_minute=6) as second_system,
    ):
        first, second = first_system.url, second_system.url
        store = redis.Redis.from_url(redis_url)
        for key in store.scan_iter("ratelimit:*"):  # a fresh minute for this test
            store.delete(key)
        statuses = [httpx.get(f"{base}/api/devices").status_code for base in (first, second) * 4]
        assert statuses[:6] == [200] * 6 and statuses[6:] == [429, 429]
        limited = httpx.get(f"{second}/api/devices")
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert httpx.get(f"{first}/api/health").status_code == 200  # probes are not limited


def test_cors_allows_the_configured_origins_and_socketio_the_service_s_own_too(database_url, redis_url, tmp_path):
    with running_system(database_url, redis_url, tmp_path, cors_origins=("http://dashboard.example",)) as system:
        base = system.url
        preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"}
        allowed = httpx.options(f"{base}/api/devices", headers={"Origin": "http://dashboard.example", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "http://dashboard.example"
        other = httpx.get(f"{base}/api/devices", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers

        def socket_origin(origin: str) -> int:
            """Socket.IO's answer to a browser's first request from `origin`."""
            return httpx.get(
                f"{base}/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": origin}
            ).status_code

        assert socket_origin(base) == 200  # the dashboard the service serves itself
        assert socket_origin("http://dashboard.example") == 200
        assert socket_origin("http://evil.example") == 400


def test_socketio_takes_the_same_token(url, database_url):
    client = socketio.SimpleClient()
    client.connect(url, transports=["websocket"], auth={"token": token(url, database_url, "operator")})
    event, status = client.receive(timeout=5)
    assert event == "connection-status" and status["role"] == "operator" and status["username"] == "test-operator"
    client.disconnect()
    refused = socketio.SimpleClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(url, transports=["websocket"], auth={"token": "garbage"})


def test_prometheus_metrics_count_requests_events_and_lag(url, database_url):
    from datetime import datetime

    reading = {
        "deviceId": "device-003",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sensorType": "vibration",
        "value": 40.0,
        "unit": "hz",
    }
    httpx.post(f"{url}/api/readings", json=reading, headers=gateway_headers())
    httpx.get(f"{url}/api/devices")
    text = httpx.get(f"{url}/metrics").text
    assert 'iotmon_http_requests_total{endpoint="list_devices",method="GET",status="200"}' in text
    assert 'iotmon_http_request_duration_seconds_bucket{endpoint="post_readings"' in text
    assert 'iotmon_router_events_total{outcome="delivered"}' in text
    assert 'iotmon_consumer_lag{group="ingest",topic="sensors-data"}' in text
