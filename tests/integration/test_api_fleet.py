"""The fleet on the real service: GET /api/fleet (counts, groups, search, filters, paging), GET
/api/analytics/fleet (trends and hourly means in one answer) and `fleet-status` over Socket.IO.

Devices are registered with SQL, their live values written to Redis as aggregate writes them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from iotmon.adapters.redis import keys
from iotmon.core.contracts.devices import LiveValue, WindowStats
from iotmon.core.timestamps import iso
from tests.support.database import sql
from tests.support.live_clients import receive, socketio_clients
from tests.support.service import error_of

LOCATIONS = ("hall-a/line-1", "hall-a/line-2", "hall-b/line-1")


def register(url: str, count: int) -> list[str]:
    """`count` pumps (normal 10–50, alert limits 5 and 60) spread over LOCATIONS."""
    ids = [f"pump-{i:04d}" for i in range(count)]
    sql(
        url,
        "INSERT INTO devices (device_id, name, device_type, location, unit, normal_min, normal_max, alert_min,"
        " alert_max, update_period_ms)"
        " SELECT id, 'Pump ' || id, 'pressure', (%s::text[])[1 + (n %% 3)], 'psi', 10, 50, 5, 60, 1000"
        " FROM unnest(%s::text[]) WITH ORDINALITY AS t(id, n)",
        list(LOCATIONS),
        ids,
    )
    return ids


def set_current(redis: Any, values: dict[str, tuple[float, str]], at: datetime | None = None) -> None:
    stamp = iso(at or datetime.now(UTC))
    pipe = redis.pipeline()
    for device, (value, level) in values.items():
        document = LiveValue(value=value, timestamp=stamp, status=level, unit="psi")  # type: ignore[arg-type]
        pipe.set(keys.current(device), msgspec.json.encode(document), ex=3600)
    pipe.execute()


def fleet(api: httpx.Client, since: datetime, path: str = "/api/fleet", **params: Any) -> dict[str, Any]:
    """The answer, once the service's snapshot (kept a second) was taken after `since`."""
    deadline = time.monotonic() + 5
    while True:
        response = api.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        taken = body["meta"].get("computedAt")
        if taken is None or datetime.fromisoformat(taken) >= since or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


@pytest.fixture
def pumps(api, clean_db, redis) -> tuple[list[str], datetime]:
    ids = register(clean_db, 30)
    currents = dict.fromkeys(ids[:27], (30.0, "normal"))
    currents |= {ids[0]: (55.0, "warning"), ids[1]: (70.0, "critical"), ids[2]: (51.0, "warning")}
    set_current(redis, currents)
    # ids[27..29]: never heard from: offline. device-001…005 too (no readings in the clean database).
    return ids, datetime.now(UTC)


def test_counts_groups_and_a_page_of_the_worst_first(api, pumps):
    ids, since = pumps
    body = fleet(api, since, limit=5)
    data, meta = body["data"], body["meta"]
    assert data["totals"] == {
        "total": 35,
        "normal": 24,
        "warning": 2,
        "critical": 1,
        "offline": 8,
        "worst": "critical",
    }
    groups = {group["location"]: group for group in data["groups"]}
    assert groups["hall-a/line-2"]["total"] == 10 and sum(g["total"] for g in data["groups"]) == 35
    assert data["groups"][0]["worst"] == "critical"  # the worst group first
    assert data["groups"][0]["location"] == groups[data["devices"][0]["location"]]["location"]
    assert "pressure" in data["types"] and "temperature" in data["types"]
    assert (meta["matched"], meta["count"], meta["limit"], meta["offset"]) == (35, 5, 5, 0)
    first = data["devices"][0]
    assert (first["deviceId"], first["state"], first["value"], first["unit"]) == (ids[1], "critical", 70.0, "psi")
    assert [d["state"] for d in data["devices"]] == ["critical", "offline", "offline", "offline", "offline"]


def test_search_filters_and_paging(api, pumps):
    ids, since = pumps
    data = fleet(api, since, q="PUMP-000", sort="id")["data"]
    assert [d["deviceId"] for d in data["devices"]] == ids[:10]
    warning = fleet(api, since, status="warning,critical", type="pressure")
    assert {d["deviceId"] for d in warning["data"]["devices"]} == set(ids[:3])
    assert warning["meta"]["matched"] == 3
    at = fleet(api, since, location="hall-b/line-1", status="offline")["data"]["devices"]
    assert [d["deviceId"] for d in at] == [device for device in ids[27:] if int(device[-4:]) % 3 == 1]
    second = fleet(api, since, sort="id", limit=10, offset=10)
    assert [d["deviceId"] for d in second["data"]["devices"]] == sorted([f"device-00{i}" for i in range(1, 6)] + ids)[
        10:20
    ]
    error_of(api.get("/api/fleet", params={"status": "broken"}), 400, "VALIDATION_ERROR")
    error_of(api.get("/api/fleet", params={"limit": 0}), 400, "VALIDATION_ERROR")
    error_of(api.get("/api/fleet", params={"sort": "name"}), 400, "VALIDATION_ERROR")


def test_a_device_silent_over_an_hour_shows_its_stored_reading(api, clean_db, redis):
    register(clean_db, 1)
    old = datetime.now(UTC) - timedelta(hours=2)
    sql(
        clean_db,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit)"
        " VALUES ('pump-0000', %s, 'pressure', 42.5, 'psi')",
        old,
    )
    since = datetime.now(UTC)
    (found,) = fleet(api, since, q="pump-0000")["data"]["devices"]
    assert (found["state"], found["status"], found["value"]) == ("offline", "offline", 42.5)
    assert datetime.fromisoformat(found["timestamp"]) == old.replace(microsecond=old.microsecond // 1000 * 1000)


def test_fleet_status_tells_the_changes_at_most_once_a_second(api, pumps, service, redis):
    ids, _since = pumps
    time.sleep(1.1)  # the states are at most a second old: now they are the pumps'
    with socketio_clients() as open_at:
        client = open_at(service.url)
        assert client.call("subscribe-fleet", {}, timeout=10)["success"] is True
        first = receive(client, "fleet-status", timeout=10)
        assert first["totals"]["total"] == 35 and first["changes"] == []
        time.sleep(2.5)  # the sweep has its baseline
        set_current(redis, {ids[5]: (80.0, "critical"), ids[0]: (30.0, "normal")})
        deadline = time.monotonic() + 10
        changed: dict[str, Any] = {}
        while time.monotonic() < deadline and len(changed) < 2:
            status = receive(client, "fleet-status", timeout=10)
            changed |= {change["deviceId"]: change for change in status["changes"]}
        assert changed[ids[5]]["state"] == "critical" and changed[ids[5]]["value"] == 80.0
        assert changed[ids[0]]["state"] == "normal" and changed[ids[0]]["location"] == "hall-a/line-2"
        assert status["totals"]["critical"] == 2 and status["totals"]["warning"] == 1
        assert set(changed) == {ids[5], ids[0]}  # the unchanged devices are not sent


def test_fleet_analytics_in_one_answer_nearest_to_a_limit_first(api, pumps, clean_db, redis):
    ids, since = pumps
    now = datetime.now(UTC)
    rising = WindowStats(
        avg=40.0, min=20.0, max=55.0, count=100, trend="increasing", std=3.0, median=40.0, slope=10 / 3600,
        window_start=iso(now - timedelta(hours=24)), window_end=iso(now), updated_at=iso(now),
    )  # fmt: skip
    redis.set(keys.stats(ids[0], "24h"), msgspec.json.encode(rising))
    hour = now.replace(minute=0, second=0, microsecond=0)
    sql(
        clean_db,
        "INSERT INTO device_stats_hourly (device_id, hour_timestamp, avg_value, min_value, max_value, count_readings,"
        " std_deviation) VALUES (%s, %s, 31.5, 30, 33, 60, 1), (%s, %s, 29, 28, 30, 60, 1)",
        ids[3],
        hour,
        ids[3],
        hour - timedelta(hours=2),
    )
    body = fleet(api, since, "/api/analytics/fleet", limit=5)
    data, meta = body["data"], body["meta"]
    assert len(data["hours"]) == 24 and datetime.fromisoformat(data["hours"][-1]) == hour
    assert (meta["matched"], meta["count"], meta["sort"]) == (35, 5, "risk")
    first, second = data["devices"][:2]
    assert first["deviceId"] == ids[1] and first["timeToThreshold"]["seconds"] == 0  # past its alert limit already
    assert second["deviceId"] == ids[0] and second["trend"] == "increasing"
    assert second["forecast60"] == pytest.approx(65.0) and second["slopePerHour"] == pytest.approx(10.0)
    assert second["timeToThreshold"]["threshold"] == "alertMax"
    assert second["timeToThreshold"]["seconds"] == pytest.approx(1800, abs=1)
    one = fleet(api, since, "/api/analytics/fleet", q=ids[3], hours=3)["data"]
    assert one["devices"][0]["hourly"] == [31.5 if i == 2 else (29.0 if i == 0 else None) for i in range(3)]
