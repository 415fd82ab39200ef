"""Closed means closed: with IOTMON_ANONYMOUS_READ=false every read needs a token — the API, exports,
/metrics, Socket.IO — while /healthz and /readyz stay open and say only up or down. Versions are for admins;
the CSP lets the page connect to its own origin only."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import socketio

from iotmon.system import System
from tests.support.auth import bearer
from tests.support.service import running_system

METRICS_TOKEN = "prometheus-" + "p" * 32


@pytest.fixture(scope="module")
def closed(database_url, redis_url, tmp_path_factory) -> Iterator[System]:
    with running_system(
        database_url, redis_url, tmp_path_factory.mktemp("closed"), anonymous_read=False, metrics_token=METRICS_TOKEN
    ) as system:
        yield system


@pytest.mark.parametrize(
    "path",
    [
        "/api/devices",
        "/api/health",
        "/api/status",
        "/metrics",
        "/api/alerts/export.csv",
        "/api/devices/device-001/history.csv",
    ],
)
def test_every_read_needs_a_token(closed, database_url, path):
    assert httpx.get(f"{closed.url}{path}").status_code == 401
    assert httpx.get(f"{closed.url}{path}", headers=bearer(closed.url, database_url, "viewer")).status_code == 200


def test_prometheus_reads_metrics_with_its_own_secret_and_nothing_else(closed):
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert httpx.get(f"{closed.url}/metrics", headers=scraper).status_code == 200
    assert httpx.get(f"{closed.url}/metrics", headers={"Authorization": "Bearer " + "x" * 43}).status_code == 401
    assert httpx.get(f"{closed.url}/api/devices", headers=scraper).status_code == 401


def test_socketio_needs_a_token(closed, database_url):
    with pytest.raises(socketio.exceptions.ConnectionError):
        socketio.SimpleClient().connect(closed.url, transports=["websocket"])
    client = socketio.SimpleClient()
    client.connect(
        closed.url,
        transports=["websocket"],
        auth={"token": bearer(closed.url, database_url, "viewer")["Authorization"][7:]},
    )
    client.disconnect()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_stay_open_and_say_only_up_or_down(closed, path):
    answer = httpx.get(f"{closed.url}{path}")
    assert answer.status_code == 200 and answer.json() == {"status": "up"}


def test_versions_are_for_admins_only(url, database_url):
    assert httpx.get(f"{url}/api/health").json()["version"] is None
    assert httpx.get(f"{url}/api/health", headers=bearer(url, database_url, "admin")).json()["version"]
    assert httpx.get(f"{url}/api/status").json()["data"]["versions"] is None
    viewer = httpx.get(f"{url}/api/status", headers=bearer(url, database_url, "viewer"))
    assert viewer.json()["data"]["versions"] is None
    admin = httpx.get(f"{url}/api/status", headers=bearer(url, database_url, "admin")).json()["data"]["versions"]
    assert admin["iotmon"] and admin["postgres"]


def test_the_page_may_connect_to_its_own_origin_only(url):
    policy = httpx.get(f"{url}/").headers["content-security-policy"]
    assert "connect-src 'self';" in policy and "ws:" not in policy and "wss:" not in policy
