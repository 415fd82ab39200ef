"""Response caching: expensive reads are served from Redis until the data they depend on changes (on the shared
system, `url`: tests/integration/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import psycopg
import redis

from iotmon.adapters.postgres import alerts
from iotmon.adapters.redis import active_alerts
from iotmon.adapters.redis.keys import cache_generation
from tests.support.auth import bearer


def open_alert(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at)"
            " VALUES ('device-002', 'threshold_exceeded', 'high pressure', 'high', 58, 55, 'triggered', now()) RETURNING id"
        ).fetchone()[0]


def test_a_repeated_read_is_a_hit_until_a_write_changes_it(url, clean_db):
    number = open_alert(clean_db)
    first = httpx.get(f"{url}/api/alerts")
    second = httpx.get(f"{url}/api/alerts")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.json()["data"] == first.json()["data"]
    operator = bearer(url, clean_db, "operator")
    assert httpx.put(f"{url}/api/alerts/alert-{number:03d}/acknowledge", headers=operator).status_code == 200
    after = httpx.get(f"{url}/api/alerts")
    assert after.headers["x-cache"] == "MISS"
    assert after.json()["data"]["alerts"][0]["status"] == "acknowledged"


def test_changes_made_by_the_functions_invalidate_too(url, clean_db, redis_url):
    number = open_alert(clean_db)
    httpx.get(f"{url}/api/alerts")
    assert httpx.get(f"{url}/api/alerts").headers["x-cache"] == "HIT"
    with psycopg.connect(clean_db, autocommit=True) as conn:  # as escalate-cron or evaluate-rule would
        alerts.resolve_open(conn, "device-002", "threshold_exceeded", at=datetime.now(UTC), source="/tests")
        active_alerts.changed(redis.Redis.from_url(redis_url), lambda: alerts.open_alerts_document(conn))
    after = httpx.get(f"{url}/api/alerts", params={"status": "all"})
    assert after.headers["x-cache"] == "MISS"
    assert [a["status"] for a in after.json()["data"]["alerts"] if a["id"] == f"alert-{number:03d}"] == ["resolved"]


def test_rollups_invalidate_the_analytics(url, clean_db, redis_url):
    httpx.get(f"{url}/api/analytics/summary")
    assert httpx.get(f"{url}/api/analytics/summary").headers["x-cache"] == "HIT"
    redis.Redis.from_url(redis_url).incr(cache_generation("rollups"))  # what aggregate does after a rollup
    assert httpx.get(f"{url}/api/analytics/summary").headers["x-cache"] == "MISS"


def test_errors_and_uncached_paths_are_not_cached(url, clean_db):
    assert "x-cache" not in httpx.get(f"{url}/api/devices").headers
    httpx.get(f"{url}/api/alerts", params={"limit": "x"})
    assert httpx.get(f"{url}/api/alerts", params={"limit": "x"}).headers["x-cache"] == "MISS"
