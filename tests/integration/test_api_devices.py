"""The device endpoints on the real service over HTTP: details, current,
history (raw and downsampled, JSON and CSV), configuration (validated, applied by the rule engine).

The service is the session's shared system, `api` an operator's client on it (tests/integration/conftest.py)."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from eventing.events import batch_event
from eventing.memory import MemoryTransport
from functions.evaluate_rule import EvaluateRule
from iotmon.adapters.redis import keys
from iotmon.core.contracts.devices import WindowStats
from iotmon.core.timestamps import iso
from tests.support.database import sql
from tests.support.service import error_of

HOUR = timedelta(hours=1)


def insert_series(
    url: str, device: str, start: datetime, seconds: int, step_s: int = 1, value_sql: str = "50 + (i %% 10)"
) -> None:
    """Readings every step_s from start, value per i (0, 1, …) given in SQL."""
    sql(
        url,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit)"
        f" SELECT %s, %s::timestamptz + i * %s * interval '1 second', 'temperature', {value_sql}, 'celsius'"
        " FROM generate_series(0, %s - 1) AS i",
        device,
        start,
        step_s,
        seconds // step_s,
    )


def rollup(url: str, device: str) -> None:
    """device_stats_hourly as aggregate computes it."""
    sql(
        url,
        "INSERT INTO device_stats_hourly (device_id, hour_timestamp, avg_value, min_value, max_value, count_readings, std_deviation)"
        " SELECT device_id, date_trunc('hour', timestamp), avg(value), min(value), max(value), count(*), stddev_pop(value)"
        " FROM sensor_readings WHERE device_id = %s GROUP BY 1, 2",
        device,
    )


def ok_data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and "meta" in body
    return body["data"]


def minute_start() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)


# --------------------------------------------------------------------------- GET /api/devices/{id}, /current


def test_device_details_with_config_last_reading_and_stats(api, clean_db, redis):
    device = ok_data(api.get("/api/devices/device-001"))["device"]
    assert (device["deviceId"], device["type"], device["unit"], device["status"]) == (
        "device-001",
        "temperature",
        "celsius",
        "offline",
    )
    assert device["lastReading"] is None and device["alertStatus"] == "normal"
    assert device["config"] == {
        "normalMin": 20.0,
        "normalMax": 80.0,
        "alertMin": 15.0,
        "alertMax": 85.0,
        "updatePeriodMs": 2000,
        "offlineTimeoutS": 30,
        "anomalySensitivity": 4.0,
        "trendHorizonS": 900,
        "trendWindowS": None,
        "breachCount": 1,
        "breachForS": 0,
        "clearAfterS": 30,
        "hysteresisPct": 2.0,
        "physicalMin": None,
        "physicalMax": None,
    }
    assert device["stats"] == {"avg24h": None, "trend": None, "1h": None, "24h": None}

    at = datetime.now(UTC) - timedelta(seconds=2)
    sql(
        clean_db,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit, status)"
        " VALUES ('device-001', %s, 'temperature', 71.25, 'celsius', 'normal')",
        at,
    )
    day = WindowStats(
        avg=70.5, min=60.0, max=80.0, count=9, trend="stable", std=6.2, median=70.0, slope=0.0,
        window_start=iso(at - timedelta(days=1)), window_end=iso(at), updated_at=iso(at),
    )  # fmt: skip
    redis.set(keys.stats("device-001", "24h"), msgspec.json.encode(day))
    redis.set(keys.stats("device-001", "1h"), msgspec.json.encode(msgspec.structs.replace(day, trend="increasing")))
    device = ok_data(api.get("/api/devices/device-001"))["device"]
    assert device["status"] == "active"
    assert device["lastReading"] == {"value": 71.25, "timestamp": iso(at), "status": "normal"}
    assert device["stats"]["avg24h"] == 70.5 and device["stats"]["trend"] == "stable"
    assert device["stats"]["24h"] == msgspec.to_builtins(day) and device["stats"]["1h"]["trend"] == "increasing"


def test_current_reading_from_redis_then_postgres(api, clean_db, redis):
    assert ok_data(api.get("/api/devices/device-002/current"))["current"] is None
    at = datetime.now(UTC) - timedelta(seconds=5)
    sql(
        clean_db,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit, status)"
        " VALUES ('device-002', %s, 'pressure', 33.5, 'psi', 'normal')",
        at,
    )
    response = api.get("/api/devices/device-002/current")
    assert ok_data(response)["current"] == {"value": 33.5, "timestamp": iso(at), "status": "normal", "unit": "psi"}
    assert response.json()["meta"]["source"] == "database"
    live = {"value": 34.0, "timestamp": iso(at + timedelta(seconds=3)), "status": "warning", "unit": "psi"}
    redis.set(keys.current("device-002"), json.dumps(live))
    response = api.get("/api/devices/device-002/current")
    assert ok_data(response)["current"] == live and response.json()["meta"]["source"] == "redis"
    assert ok_data(response)["deviceId"] == "device-002"


@pytest.mark.parametrize("path", ["", "/current", "/history", "/history.csv"])
def test_unknown_device_is_404(api, path):
    error_of(api.get(f"/api/devices/device-404{path}"), 404, "DEVICE_NOT_FOUND")


# --------------------------------------------------------------------------- history


def test_history_without_resolution_is_unchanged_and_raw_is_the_same(api, clean_db):
    start = minute_start()
    insert_series(clean_db, "device-001", start, 120)
    params = {"from": iso(start), "to": iso(start + timedelta(seconds=59))}
    plain = api.get("/api/devices/device-001/history", params=params).json()
    assert len(plain["data"]["readings"]) == 60
    assert set(plain["data"]["readings"][0]) == {"timestamp", "value", "unit", "status"}
    assert "resolution" not in plain["meta"]
    raw = api.get("/api/devices/device-001/history", params={**params, "resolution": "raw"}).json()
    assert raw["data"]["readings"] == plain["data"]["readings"] and raw["meta"]["resolution"] == "raw"


def test_minute_buckets_carry_avg_min_max_count(api, clean_db):
    start = minute_start()
    insert_series(clean_db, "device-001", start, 180, value_sql="i")  # values 0..179, one a second
    data = api.get(
        "/api/devices/device-001/history",
        params={"from": iso(start), "to": iso(start + timedelta(seconds=179)), "resolution": "1m"},
    ).json()
    assert data["meta"]["resolution"] == "1m" and data["meta"]["count"] == 3
    assert data["data"]["readings"] == [
        {
            "timestamp": iso(start + timedelta(minutes=m)),
            "value": 60 * m + 29.5,
            "min": 60.0 * m,
            "max": 60.0 * m + 59,
            "count": 60,
        }
        for m in range(3)
    ]
    five = api.get(
        "/api/devices/device-001/history",
        params={"from": iso(start - HOUR), "to": iso(start + HOUR), "resolution": "5m"},
    ).json()
    assert sum(p["count"] for p in five["data"]["readings"]) == 180
    assert all(datetime.fromisoformat(p["timestamp"]).minute % 5 == 0 for p in five["data"]["readings"])


def test_hourly_resolution_reads_the_rollups_and_auto_picks_the_finest_within_2000_points(api, clean_db):
    start = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    insert_series(clean_db, "device-001", start, 4 * 3600, step_s=5)  # 2,880 readings
    rollup(clean_db, "device-001")
    window = {"from": iso(start), "to": iso(start + 4 * HOUR - timedelta(seconds=1))}
    hourly = api.get("/api/devices/device-001/history", params={**window, "resolution": "1h"}).json()
    assert [p["count"] for p in hourly["data"]["readings"]] == [720] * 4
    assert hourly["data"]["readings"][0]["timestamp"] == iso(start)
    assert set(hourly["data"]["readings"][0]) == {"timestamp", "value", "min", "max", "count"}

    auto = api.get("/api/devices/device-001/history", params={**window, "resolution": "auto"}).json()
    assert auto["meta"]["resolution"] == "1m" and auto["meta"]["requestedResolution"] == "auto"  # 2,880 raw > 2,000
    assert auto["meta"]["count"] == 240 and not auto["meta"]["truncated"]
    short = {"from": iso(start), "to": iso(start + HOUR)}
    auto_raw = api.get("/api/devices/device-001/history", params={**short, "resolution": "auto"}).json()
    assert auto_raw["meta"]["resolution"] == "raw" and auto_raw["meta"]["count"] == 721
    capped = api.get("/api/devices/device-001/history", params={**window, "resolution": "1m", "limit": 10}).json()
    assert capped["meta"]["count"] == 10 and capped["meta"]["truncated"]
    assert capped["data"]["readings"][-1]["timestamp"] == iso(
        start + 4 * HOUR - timedelta(minutes=1)
    )  # the newest kept


@pytest.mark.parametrize(
    "query",
    [
        {"resolution": "2m"},
        {"resolution": "RAW"},
        {"from": "soon"},
        {"limit": 0},
        {"limit": 10_001},
        {"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
        {"to": "99999999999999999999"},
    ],
)
def test_bad_history_parameters_are_400(api, query):
    error_of(api.get("/api/devices/device-001/history", params=query), 400, "VALIDATION_ERROR")
    if query.get("limit") != 10_001:  # an export has no 10,000 cap
        error_of(api.get("/api/devices/device-001/history.csv", params=query), 400, "VALIDATION_ERROR")


def test_history_csv_raw_and_bucketed(api, clean_db):
    start = minute_start()
    insert_series(clean_db, "device-003", start, 150, value_sql="i")
    window = {"from": iso(start), "to": iso(start + timedelta(seconds=149))}
    response = api.get("/api/devices/device-003/history.csv", params=window)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="device-003-history.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 150  # no default limit on an export
    assert rows[0] == {
        "timestamp": iso(start),
        "deviceId": "device-003",
        "value": "0.0",
        "unit": "celsius",
        "status": "active",
    }
    assert rows[-1]["value"] == "149.0"
    limited = list(
        csv.DictReader(io.StringIO(api.get("/api/devices/device-003/history.csv", params={**window, "limit": 5}).text))
    )
    assert [r["value"] for r in limited] == ["145.0", "146.0", "147.0", "148.0", "149.0"]
    buckets = list(
        csv.DictReader(
            io.StringIO(api.get("/api/devices/device-003/history.csv", params={**window, "resolution": "1m"}).text)
        )
    )
    assert [(r["count"], r["min"], r["max"]) for r in buckets] == [
        ("60", "0.0", "59.0"),
        ("60", "60.0", "119.0"),
        ("30", "120.0", "149.0"),
    ]


def test_seven_days_at_1_hz_downsampled(api, clean_db, capsys):
    """A week of 1 Hz data (604,800 readings): `auto` answers from the hourly rollups. Timings are printed, not asserted."""
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=7)
    began = time.perf_counter()
    insert_series(clean_db, "device-005", start, 7 * 86_400, value_sql="90 + 5 * sin(i / 3600.0)")
    rollup(clean_db, "device-005")
    sql(clean_db, "ANALYZE sensor_readings")
    seeded = time.perf_counter() - began
    window = {"from": iso(start), "to": iso(end)}
    timings = {}
    for name, query in [
        ("7d auto", {**window, "resolution": "auto"}),
        ("7d 1h", {**window, "resolution": "1h"}),
        ("24h auto", {"from": iso(end - timedelta(days=1)), "to": iso(end), "resolution": "auto"}),
        ("7d 5m", {**window, "resolution": "5m"}),
    ]:
        api.get("/api/devices/device-005/history", params=query)  # warm
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            response = api.get("/api/devices/device-005/history", params=query)
            best = min(best, time.perf_counter() - t0)
        body = response.json()
        timings[name] = (round(best * 1000, 1), body["meta"]["resolution"], body["meta"]["count"])
    with capsys.disabled():
        print(
            f"\n[history timing] seeded 604,800 readings + rollups in {seeded:.1f} s; best of 3 (ms, resolution, points): {timings}"
        )
    assert timings["7d auto"][1] == "1h" and 168 <= timings["7d auto"][2] <= 169
    assert timings["24h auto"][1] == "1m" and 1440 <= timings["24h auto"][2] <= 1441
    assert timings["7d 5m"][2] == 2000  # the default cap of an aggregated answer


# --------------------------------------------------------------------------- PUT config


def test_config_update_is_validated_stored_and_returned(api, clean_db):
    before = sql(clean_db, "SELECT updated_at FROM devices WHERE device_id = 'device-002'")[0][0]
    body = {
        "normalMin": 12,
        "normalMax": 48.5,
        "alertMin": None,
        "alertMax": 60,
        "offlineTimeoutS": 90,
        "anomalySensitivity": 3.5,
        "trendHorizonS": 600,
        "trendWindowS": 300,
        "breachCount": 3,
        "breachForS": 10,
        "clearAfterS": 0,
        "hysteresisPct": 1.5,
        "physicalMin": 0,
        "physicalMax": 100,
        "updatePeriodMs": 1000,
        "name": "Pressure #2 (rebuilt)",
        "location": "assembly-line-2",
        "status": "maintenance",
    }
    response = api.put("/api/devices/device-002/config", json=body)
    data = ok_data(response)
    assert data["config"] == {
        "normalMin": 12.0,
        "normalMax": 48.5,
        "alertMin": None,
        "alertMax": 60.0,
        "updatePeriodMs": 1000,
        "offlineTimeoutS": 90,
        "anomalySensitivity": 3.5,
        "trendHorizonS": 600,
        "trendWindowS": 300,
        "breachCount": 3,
        "breachForS": 10,
        "clearAfterS": 0,
        "hysteresisPct": 1.5,
        "physicalMin": 0.0,
        "physicalMax": 100.0,
    }
    assert (data["name"], data["location"], data["status"]) == (
        "Pressure #2 (rebuilt)",
        "assembly-line-2",
        "maintenance",
    )
    assert sorted(response.json()["meta"]["updated"]) == sorted(body)
    after = sql(clean_db, "SELECT updated_at, status FROM devices WHERE device_id = 'device-002'")[0]
    assert after[0] > before and after[1] == "maintenance"
    device = ok_data(api.get("/api/devices/device-002"))["device"]
    assert device["config"] == data["config"] and device["status"] == "maintenance"
    # a partial update leaves the rest alone
    assert ok_data(api.put("/api/devices/device-002/config", json={"breachCount": 4}))["config"]["normalMax"] == 48.5


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"normalMin": "10"}, ["normalMin"]),
        ({"normalMax": True}, ["normalMax"]),
        ({"alertMax": 1e12}, ["alertMax"]),
        ({"offlineTimeoutS": 0}, ["offlineTimeoutS"]),
        ({"offlineTimeoutS": 1.5}, ["offlineTimeoutS"]),
        ({"anomalySensitivity": 0}, ["anomalySensitivity"]),
        ({"breachCount": None}, ["breachCount"]),
        ({"clearAfterS": -1, "hysteresisPct": 101}, ["clearAfterS", "hysteresisPct"]),
        ({"status": "broken"}, ["status"]),
        ({"location": ""}, ["location"]),
        ({"location": None}, ["location"]),
        ({"name": "n" * 101}, ["name"]),
        ({"normalMin": 90}, ["alertMax", "normalMax"]),  # 90 ≥ the stored normalMax 80 and alertMax 85
        ({"normalMin": 50, "normalMax": 40}, ["normalMax"]),
        ({"alertMax": 80}, ["alertMax"]),  # not above normalMax 80
        ({"alertMin": 25}, ["normalMin"]),  # not below normalMin 20
    ],
)
def test_invalid_config_is_400_naming_the_field(api, clean_db, body, fields):
    error = error_of(api.put("/api/devices/device-001/config", json=body), 400, "VALIDATION_ERROR")
    assert sorted({problem["field"] for problem in error["details"]}) == fields
    assert sql(clean_db, "SELECT normal_min, normal_max, alert_max FROM devices WHERE device_id = 'device-001'")[0] == (
        20,
        80,
        85,
    )


def test_config_body_errors(api):
    error = error_of(
        api.put("/api/devices/device-001/config", json={"alertMax": 90, "colour": "red", "x": 1}),
        400,
        "VALIDATION_ERROR",
    )
    assert error["details"]["unknown"] == ["colour", "x"] and "colour" in error["message"]
    for content in (b"", b"{}", b"[]", b"{bad", b"42"):
        error_of(api.put("/api/devices/device-001/config", content=content), 400, "VALIDATION_ERROR")
    error_of(api.put("/api/devices/device-404/config", json={"alertMax": 90}), 404, "DEVICE_NOT_FOUND")
    error_of(api.get("/api/devices/device-001/config"), 404, "NOT_FOUND")


def test_the_rule_engine_applies_a_config_change_without_restart(api, pool, redis):
    base = datetime.now(UTC).replace(microsecond=0) - HOUR

    def batch(values, start_s):
        readings = [
            {
                "deviceId": "device-001",
                "timestamp": iso(base + timedelta(seconds=start_s + 2 * i)),
                "sensorType": "temperature",
                "value": v,
                "unit": "celsius",
            }
            for i, v in enumerate(values)
        ]
        event = batch_event(readings, "/test", key="device-001")
        event.data = json.dumps(event.data).encode()
        return event

    evaluate = EvaluateRule(pool, redis, MemoryTransport(), config_ttl_s=0)
    assert [c.type for c in evaluate([batch([84.0] * 5, 0)]) if c.type == "threshold_exceeded"] == []
    ok_data(api.put("/api/devices/device-001/config", json={"normalMax": 75, "alertMax": 80}))
    changes = evaluate([batch([84.0] * 3, 10)])
    assert [(c.action, c.threshold) for c in changes if c.type == "threshold_exceeded"] == [("triggered", 80.0)]
    open_alerts = api.get("/api/alerts", params={"deviceId": "device-001", "type": "threshold_exceeded"}).json()
    assert open_alerts["meta"]["totalAlerts"] == 1


def test_nul_bytes_never_reach_postgresql(api):
    for path in ("", "/current", "/history", "/history.csv"):
        error_of(api.get(f"/api/devices/bad%00id{path}"), 404, "DEVICE_NOT_FOUND")
    error_of(api.put("/api/devices/bad%00id/config", json={"breachCount": 2}), 404, "DEVICE_NOT_FOUND")
    error_of(api.get("/api/analytics/trends/bad%00id"), 404, "DEVICE_NOT_FOUND")
    error = error_of(api.put("/api/devices/device-001/config", json={"name": "a\u0000b"}), 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "name"
