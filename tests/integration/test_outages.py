"""Outages of PostgreSQL and Redis: the API fails fast, says what is down, and heals by itself.

Each test runs the system on a server of its own (tests/support/outages.py), freezes it (SIGSTOP: a
server that accepts and never answers), stops it and starts it again at the same address. PostgreSQL goes
down under a steady load of readings: every one answered 202 must be stored once it is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from iotmon.adapters.postgres import db
from iotmon.core.readings import utcnow
from iotmon.core.timestamps import iso
from tests.integration.test_durability import missing, stored
from tests.support.auth import gateway_headers
from tests.support.load import ReadingLoad
from tests.support.outages import Postgres, Redis
from tests.support.service import error_of, running_system, settle
from tests.support.waiting import wait_for

FAIL_FAST_S = 2.0  # an answer during an outage
HEALTH_S = 2.5  # the health report: its checks time out after 2 s
RECOVER_S = 15.0  # from the server's return to answers as before


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def health(client: httpx.Client) -> dict[str, Any]:
    response, seconds = timed(lambda: client.get("/api/health"))
    assert seconds < HEALTH_S, f"the health report took {seconds:.1f} s"
    return dict(response.json())


def down(client: httpx.Client, dependency: str) -> bool:
    return bool(health(client)["dependencies"][dependency]["status"] == "unhealthy")


def assert_frozen_is_down(server: Postgres | Redis, client: httpx.Client, dependency: str) -> None:
    """A server that accepts and never answers: health says so within its 2 s checks."""
    server.freeze()
    try:
        assert down(client, dependency)
    finally:
        server.freeze(False)


def stored_through_the_pipeline(client: httpx.Client) -> None:
    sent = iso(utcnow())
    reading = {"deviceId": "device-001", "timestamp": sent, "sensorType": "temperature", "value": 40.0}
    assert client.post("/api/readings", json={**reading, "unit": "celsius"}).status_code == 202

    def stored() -> bool:
        history = client.get("/api/devices/device-001/history", params={"from": sent}).json()["data"]["readings"]
        return sent in [r["timestamp"] for r in history]

    wait_for(stored, RECOVER_S, "a reading sent after the outage to be stored")


def test_database_outage_under_load_answers_503_then_recovers_and_loses_nothing(redis_url: str, tmp_path: Path) -> None:
    postgres = Postgres(tmp_path / "postgres")
    try:
        database_url = postgres.start()
        with (
            running_system(database_url, redis_url, tmp_path / "system") as system,
            httpx.Client(base_url=system.url, timeout=30, headers=gateway_headers()) as client,
        ):
            assert client.get("/api/devices").status_code == 200
            load = ReadingLoad(system.url, batch=50).start()  # all through the outage: 202s and 503s
            wait_for(lambda: len(load.accepted) >= 1_000, 30, "readings accepted before the outage")

            assert_frozen_is_down(postgres, client, "database")

            postgres.stop()
            response, seconds = timed(lambda: client.get("/api/devices"))
            error = error_of(response, 503, "DATABASE_UNAVAILABLE")
            assert seconds < FAIL_FAST_S, f"503 after {seconds:.1f} s"
            assert int(response.headers["Retry-After"]) > 0 and "try again" in error["message"]
            reading = {"deviceId": "device-001", "timestamp": iso(utcnow()), "sensorType": "temperature", "value": 1.0}
            response, seconds = timed(lambda: client.post("/api/readings", json={**reading, "unit": "celsius"}))
            error_of(
                response, 503, "DATABASE_UNAVAILABLE"
            )  # the registry is in PostgreSQL (embedded, the event log too)
            assert seconds < FAIL_FAST_S and "Retry-After" in response.headers, f"503 after {seconds:.1f} s"
            report = health(client)
            assert (report["status"], report["dependencies"]["database"]["status"]) == ("unhealthy", "unhealthy")
            assert report["dependencies"]["redis"]["status"] == "healthy"

            postgres.start()
            wait_for(lambda: client.get("/api/devices").status_code == 200, RECOVER_S, "the API to answer again")
            wait_for(lambda: not down(client, "database"), RECOVER_S, "the health report to see the database")
            stored_through_the_pipeline(client)  # the router's sources joined their groups again by themselves
            load.stop()
            assert load.failed_requests, "the load never met the outage"
            settle(system)
        with psycopg.connect(database_url) as conn:
            found = stored(conn, min(at for _, at in load.accepted))
        assert missing(load.accepted, found) == [], "accepted readings lost across the restart"
        assert len(found) == len(set(found))
    finally:
        postgres.stop()


def test_redis_outage_degrades_fast_then_recovers(clean_db: str, tmp_path: Path) -> None:
    """Redis is a cache of PostgreSQL: while it is away the API answers from PostgreSQL, at once."""
    redis = Redis(tmp_path / "redis")
    try:
        redis_url = redis.start()
        with (
            running_system(clean_db, redis_url, tmp_path / "system") as system,
            httpx.Client(base_url=system.url, timeout=30, headers=gateway_headers()) as client,
        ):

            def send_and_see_live(value: float) -> None:
                reading = {"deviceId": "device-001", "timestamp": iso(utcnow()), "sensorType": "temperature"}
                response = client.post("/api/readings", json={**reading, "value": value, "unit": "celsius"})
                assert response.status_code == 202, response.text

                def live() -> bool:
                    answer = client.get("/api/devices/device-001/current").json()
                    return bool(answer["meta"]["source"] == "redis" and answer["data"]["current"]["value"] == value)

                wait_for(live, RECOVER_S, f"aggregate's live value {value} through the API")

            send_and_see_live(41.0)

            assert_frozen_is_down(redis, client, "redis")

            redis.stop()
            response, seconds = timed(lambda: client.get("/api/devices/device-001/current"))
            assert seconds < FAIL_FAST_S, f"answered after {seconds:.1f} s"
            assert response.status_code == 200 and response.json()["meta"]["source"] == "database"
            report = health(client)
            assert (report["status"], report["dependencies"]["redis"]["status"]) == ("degraded", "unhealthy")

            redis.start()  # empty: the functions rebuild what they keep there
            wait_for(lambda: not down(client, "redis"), RECOVER_S, "the health report to see Redis")
            send_and_see_live(43.0)
    finally:
        redis.stop()


def test_a_pool_lends_a_live_connection_at_once_after_a_restart(tmp_path: Path) -> None:
    """Every pooled connection died with the server; the first that fails its check gets the rest dropped."""
    postgres = Postgres(tmp_path / "postgres")
    try:
        pool = db.pool(postgres.start(), max_size=4)
        held = [pool.getconn() for _ in range(4)]
        for conn in held:
            pool.putconn(conn)
        postgres.stop()
        postgres.start()
        started = time.monotonic()
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        seconds = time.monotonic() - started
        assert seconds < 1.0, f"the first query after the restart took {seconds:.1f} s"
        pool.close()
    finally:
        postgres.stop()
