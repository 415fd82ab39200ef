"""Sessions can be ended: logout, deleting a user, changing its role or password end its tokens at once, over
REST and on live Socket.IO connections (on every replica); access tokens are short-lived, with a refresh path;
a connection is closed when its token expires."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import jwt
import pytest
import socketio

from iotmon.system import System
from tests.support.auth import PASSWORD, bearer, ensure_user
from tests.support.service import TEST_JWT_KEYS, error_of, running_system
from tests.support.waiting import wait_for

STRONG = "plated-ferry-comet-87"


def login(base: str, username: str, password: str = PASSWORD) -> dict:
    answer = httpx.post(f"{base}/api/auth/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def auth(session: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['token']}"}


def live_client(base: str, session: dict) -> tuple[socketio.SimpleClient, list]:
    """A connected Socket.IO client and the list its `error` events land in."""
    client = socketio.Client(reconnection=False)
    errors: list = []
    client.on("error", errors.append)
    client.connect(base, transports=["websocket"], auth={"token": session["token"]})
    return client, errors


@pytest.fixture(scope="module")
def other_replica(database_url, redis_url, tmp_path_factory) -> Iterator[System]:
    with running_system(database_url, redis_url, tmp_path_factory.mktemp("replica")) as system:
        yield system


def test_access_tokens_are_short_lived_and_refreshed_within_the_session(url, database_url):
    ensure_user(database_url, "sam", "operator")
    session = login(url, "sam")
    expires = datetime.fromisoformat(session["expiresAt"].replace("Z", "+00:00"))
    assert (expires - datetime.now(UTC)).total_seconds() <= 15 * 60
    assert datetime.fromisoformat(session["sessionExpiresAt"].replace("Z", "+00:00")) > expires
    renewed = httpx.post(f"{url}/api/auth/refresh", json={"refreshToken": session["refreshToken"]})
    assert renewed.status_code == 200 and renewed.json()["data"]["role"] == "operator"
    assert httpx.get(f"{url}/api/users", headers=auth(renewed.json()["data"])).status_code == 403  # a real token
    forged = session["refreshToken"].split(".")[0] + ".not-the-secret"
    error_of(httpx.post(f"{url}/api/auth/refresh", json={"refreshToken": forged}), 401, "SESSION_ENDED")


def test_logout_ends_the_access_and_refresh_tokens_at_once(url, database_url):
    ensure_user(database_url, "sam", "operator")
    session, other = login(url, "sam"), login(url, "sam")
    assert httpx.post(f"{url}/api/auth/logout", headers=auth(session)).status_code == 200
    error_of(httpx.put(f"{url}/api/alerts/alert-999/resolve", headers=auth(session)), 401, "SESSION_ENDED")
    error_of(
        httpx.post(f"{url}/api/auth/refresh", json={"refreshToken": session["refreshToken"]}), 401, "SESSION_ENDED"
    )
    assert httpx.post(f"{url}/api/auth/logout", headers=auth(other)).status_code == 200  # its own session only


def test_a_deleted_admin_s_token_is_worthless_at_once_even_if_the_name_comes_back(url, database_url):
    ensure_user(database_url, "mallory", "admin")
    stolen = login(url, "mallory")
    admin = bearer(url, database_url, "admin")
    assert httpx.delete(f"{url}/api/users/mallory", headers=admin).status_code == 200
    new_admin = {"username": "mallory2", "password": STRONG, "role": "admin"}
    error_of(httpx.post(f"{url}/api/users", headers=auth(stolen), json=new_admin), 401, "SESSION_ENDED")
    ensure_user(database_url, "mallory", "viewer")  # the name again, as a viewer
    error_of(httpx.get(f"{url}/api/users", headers=auth(stolen)), 401, "SESSION_ENDED")


@pytest.mark.parametrize("change", [{"role": "viewer"}, {"password": STRONG}])
def test_changing_a_user_s_role_or_password_ends_its_sessions(url, database_url, change):
    ensure_user(database_url, "sam", "operator")
    session = login(url, "sam")
    changed = httpx.put(f"{url}/api/users/sam", headers=bearer(url, database_url, "admin"), json=change)
    assert changed.status_code == 200 and changed.json()["data"]["sessionsEnded"] >= 1
    error_of(httpx.get(f"{url}/api/devices", headers=auth(session)), 401, "SESSION_ENDED")
    if "password" in change:
        assert login(url, "sam", STRONG)["role"] == "operator"


def test_a_weak_new_password_is_refused_with_the_reason(url, database_url):
    ensure_user(database_url, "sam", "operator")
    weak = httpx.put(
        f"{url}/api/users/sam", headers=bearer(url, database_url, "admin"), json={"password": "password1234"}
    )
    assert "too weak" in error_of(weak, 400, "VALIDATION_ERROR")["message"]


def test_live_connections_close_when_their_session_ends_on_any_replica(url, database_url, other_replica):
    ensure_user(database_url, "sam", "operator")
    here, there = login(url, "sam"), login(url, "sam")
    near, near_errors = live_client(url, here)
    far, far_errors = live_client(other_replica.url, there)
    try:
        assert near.connected and far.connected
        httpx.post(f"{url}/api/auth/logout", headers=auth(here))
        wait_for(lambda: not near.connected, 3, what="the logged-out connection to close")
        assert far.connected  # another session of the same user
        httpx.delete(f"{url}/api/users/sam", headers=bearer(url, database_url, "admin"))
        wait_for(lambda: not far.connected, 3, what="the deleted user's connection on the other replica to close")
        assert "log in again" in near_errors[0]["message"] and far_errors
    finally:
        near.disconnect()
        far.disconnect()


def test_a_live_connection_closes_when_its_token_expires(database_url, redis_url, tmp_path):
    ensure_user(database_url, "sam", "viewer")
    with running_system(database_url, redis_url, tmp_path, token_ttl_s=2) as system:
        session = login(system.url, "sam")
        client, errors = live_client(system.url, session)
        try:
            started = time.monotonic()
            wait_for(lambda: not client.connected, 6, what="the connection to close at its token's expiry")
            assert 1 <= time.monotonic() - started <= 5 and "expired" in errors[0]["message"]
        finally:
            client.disconnect()


def test_a_stale_access_token_never_stands_in_the_way_of_a_refresh_or_a_logout(url, database_url):
    ensure_user(database_url, "sam", "operator")
    session = login(url, "sam")
    kid, _, key = TEST_JWT_KEYS.partition(":")
    expired = jwt.encode(
        {"sub": "sam", "role": "operator", "sid": session["refreshToken"].split(".")[0], "exp": 1},
        key,
        algorithm="HS256",
        headers={"kid": kid},
    )
    stale = {"Authorization": f"Bearer {expired}"}
    error_of(httpx.get(f"{url}/api/devices", headers=stale), 401, "TOKEN_EXPIRED")  # reads still say so
    renewed = httpx.post(f"{url}/api/auth/refresh", headers=stale, json={"refreshToken": session["refreshToken"]})
    assert renewed.status_code == 200
    assert login(url, "sam")  # a login too
    out = httpx.post(f"{url}/api/auth/logout", headers=stale, json={"refreshToken": session["refreshToken"]})
    assert out.status_code == 200
    error_of(httpx.get(f"{url}/api/devices", headers=auth(renewed.json()["data"])), 401, "SESSION_ENDED")
    error_of(httpx.post(f"{url}/api/auth/logout", json={}), 401, "UNAUTHORIZED")
