"""Metrics, analytics and status endpoints on the real service over HTTP (the shared system and its `api` client:
tests/integration/conftest.py)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from iotmon.adapters.redis import keys
from iotmon.core.contracts.analytics import SystemMetricsDoc
from iotmon.core.contracts.devices import LiveValue
from iotmon.core.timestamps import iso
from tests.support.database import sql
from tests.support.service import error_of


def reading(url: str, device: str, at: datetime, value: float) -> None:
    sql(
        url,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit, status)"
        " VALUES (%s, %s, 'temperature', %s, 'celsius', 'normal')",
        device,
        at,
        value,
    )


def alert(
    url: str,
    device: str,
    kind: str,
    severity: str,
    triggered: datetime,
    *,
    ack_s: float | None = None,
    resolve_s: float | None = None,
) -> None:
    status = "resolved" if resolve_s is not None else "acknowledged" if ack_s is not None else "triggered"
    sql(
        url,
        "INSERT INTO alerts (device_id, alert_type, message, severity, status, triggered_at, acknowledged_at, resolved_at)"
        " VALUES (%s, %s, 'm', %s, %s, %s, %s, %s)",
        device,
        kind,
        severity,
        status,
        triggered,
        None if ack_s is None else triggered + timedelta(seconds=ack_s),
        None if resolve_s is None else triggered + timedelta(seconds=resolve_s),
    )


def data_of(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["meta"]["timestamp"].endswith("Z")
    return body["data"]


# --------------------------------------------------------------------------- dashboard, system, status


def test_dashboard_summary(api, clean_db, redis):
    now = datetime.now(UTC)
    for i in range(3):
        reading(clean_db, "device-001", now - timedelta(seconds=5 + i), 70 + i)
    reading(clean_db, "device-002", now - timedelta(seconds=10), 30)
    reading(clean_db, "device-003", now - timedelta(minutes=10), 50)  # offline, outside the last minute
    alert(clean_db, "device-001", "threshold_exceeded", "critical", now - timedelta(minutes=30))
    alert(clean_db, "device-002", "data_anomaly", "high", now - timedelta(hours=2), ack_s=60)
    alert(clean_db, "device-003", "trend_warning", "low", now - timedelta(hours=3), ack_s=120, resolve_s=600)
    alert(
        clean_db, "device-004", "data_anomaly", "medium", now - timedelta(days=3), ack_s=1, resolve_s=2
    )  # outside 24 h
    live = LiveValue(value=31.5, timestamp=iso(now), status="warning", unit="psi")
    redis.set(keys.current("device-002"), msgspec.json.encode(live))
    figures = SystemMetricsDoc(
        total_devices=5, active_devices=2, active_alerts_count=3, data_points_last_hour=1234, system_health="degraded"
    )
    redis.set(keys.SYSTEM_METRICS, msgspec.json.encode(figures))

    time.sleep(1.1)  # the devices' states are the fleet's, at most a second old
    data = data_of(api.get("/api/metrics/dashboard"))
    assert (data["devices"]["total"], data["devices"]["online"], data["devices"]["offline"]) == (5, 2, 3)
    items = {d["deviceId"]: d for d in data["devices"]["items"]}
    assert items["device-001"]["value"] == 70.0 and items["device-001"]["alertStatus"] == "critical"
    assert items["device-002"]["value"] == 31.5 and items["device-002"]["readingStatus"] == "warning"  # Redis first
    assert items["device-005"]["value"] is None and items["device-005"]["status"] == "offline"
    assert data["readings"] == {"lastMinute": 4, "perMinute": 4, "dataPointsLastHour": 1234}
    alerts = data["alerts"]
    assert alerts["open"] == 2 and alerts["bySeverity"] == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert (alerts["triggered24h"], alerts["acknowledged24h"], alerts["resolved24h"]) == (3, 2, 1)
    assert alerts["mttaSeconds24h"] == 90.0 and alerts["mttrSeconds24h"] == 600.0
    assert data["systemHealth"] == "degraded"


def test_system_metrics(api, redis):
    metrics = {
        "totalDevices": 5,
        "activeDevices": 4,
        "activeAlertsCount": 1,
        "dataPointsLastHour": 10,
        "systemHealth": "degraded",
    }
    redis.set(keys.SYSTEM_METRICS, json.dumps(metrics))
    data = data_of(api.get("/api/metrics/system"))
    assert data["metrics"] == metrics
    assert data["database"]["sizeBytes"] > 1_000_000 and data["database"]["connections"] >= 1
    assert data["redis"]["usedMemoryBytes"] > 0 and data["redis"]["keys"] >= 1
    assert data["process"]["uptimeSeconds"] >= 0 and data["process"]["transport"] == "postgres"
    redis.delete(keys.SYSTEM_METRICS)
    assert data_of(api.get("/api/metrics/system"))["metrics"] is None


def test_status_overview(api, clean_db):
    reading(clean_db, "device-004", datetime.now(UTC) - timedelta(seconds=1), 300)
    sql(clean_db, "UPDATE devices SET status = 'maintenance' WHERE device_id = 'device-005'")
    alert(clean_db, "device-004", "data_anomaly", "medium", datetime.now(UTC) - timedelta(minutes=1))
    data = data_of(api.get("/api/status"))
    assert data["status"] == "healthy" and data["services"] == {
        "database": "healthy",
        "redis": "healthy",
        "kafka": "healthy",
    }
    assert data["devices"] == {"total": 5, "online": 1, "offline": 3, "inactive": 0, "maintenance": 1}
    assert data["alerts"]["open"] == 1 and data["alerts"]["bySeverity"]["medium"] == 1
    assert data["versions"] is None  # for admins only (tests/security/test_closed.py)
    assert data["transport"] == "postgres" and data["uptimeSeconds"] >= 0


# --------------------------------------------------------------------------- trends


def test_trend_slope_forecast_and_time_to_threshold(api, clean_db):
    now = datetime.now(UTC)
    # device-001: 3,600 readings rising 0.005 a second up to now; alertMax 85. They are 0.99 s apart, so that
    # the service's last hour, which ends when it answers, still holds all of them (1 s apart, the first one
    # dropped out whenever the request came more than a moment later).
    step = 0.99
    start = now - timedelta(seconds=3599 * step)
    sql(
        clean_db,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit)"
        " SELECT 'device-001', %s::timestamptz + i * %s * interval '1 second', 'temperature', 50 + 0.005 * %s * i,"
        " 'celsius' FROM generate_series(0, 3599) AS i",
        start,
        step,
        step,
    )
    reached = 50 + 0.005 * 3599 * step  # 67.8 now; up to 0.2 more if the service answers up to 40 s later
    data = data_of(api.get("/api/analytics/trends/device-001", params={"window": "1h"}))
    assert data["count"] == 3600 and data["trend"] == "increasing"
    assert data["slopePerSecond"] == pytest.approx(0.005, rel=0.01) and data["slopePerHour"] == pytest.approx(
        18, rel=0.01
    )
    assert data["fittedNow"] == pytest.approx(reached, abs=0.2)
    assert [p["minutes"] for p in data["forecast"]] == [15, 30, 60]
    assert [p["value"] for p in data["forecast"]] == pytest.approx([reached + 4.5, reached + 9, reached + 18], abs=0.2)
    crossing = data["timeToThreshold"]
    assert crossing["threshold"] == "alertMax" and crossing["value"] == 85.0
    assert crossing["seconds"] == pytest.approx((85 - reached) / 0.005, abs=40)
    assert datetime.fromisoformat(crossing["at"]) > now
    assert data["thresholds"] == {"alertMin": 15.0, "alertMax": 85.0}

    day = api.get("/api/analytics/trends/device-001")  # 24h by default: the same readings
    assert day.json()["meta"]["source"] == "readings" and data_of(day)["window"] == "24h"
    # 7d reads the hourly rollups when there are any
    sql(
        clean_db,
        "INSERT INTO device_stats_hourly (device_id, hour_timestamp, avg_value, min_value, max_value, count_readings)"
        " SELECT 'device-001', date_trunc('hour', now()) - h * interval '1 hour', 80 - h, 79 - h, 81 - h, 3600"
        " FROM generate_series(0, 47) AS h",
    )
    week = api.get("/api/analytics/trends/device-001", params={"window": "7d"})
    assert week.json()["meta"]["source"] == "hourly"
    assert data_of(week)["slopePerHour"] == pytest.approx(1.0, rel=0.01) and data_of(week)["count"] == 48 * 3600


def test_a_falling_trend_crosses_alert_min_and_a_flat_one_never(api, clean_db):
    now = datetime.now(UTC).replace(microsecond=0)
    sql(
        clean_db,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit)"
        " SELECT 'device-002', %s::timestamptz + i * interval '10 second', 'pressure', 30 - 0.02 * i, 'psi'"
        " FROM generate_series(0, 359) AS i",
        now - timedelta(hours=1),
    )
    data = data_of(api.get("/api/analytics/trends/device-002", params={"window": "1h"}))
    assert data["trend"] == "decreasing" and data["timeToThreshold"]["threshold"] == "alertMin"
    sql(
        clean_db,
        "INSERT INTO sensor_readings (device_id, timestamp, sensor_type, value, unit)"
        " SELECT 'device-003', %s::timestamptz + i * interval '10 second', 'vibration', 40, 'hz'"
        " FROM generate_series(0, 100) AS i",
        now - timedelta(minutes=30),
    )
    flat = data_of(api.get("/api/analytics/trends/device-003", params={"window": "1h"}))
    assert flat["trend"] == "stable" and flat["timeToThreshold"] is None and flat["slopePerSecond"] == 0
    empty = data_of(api.get("/api/analytics/trends/device-004"))
    assert (
        empty["count"] == 0 and empty["trend"] is None and empty["forecast"] == [] and empty["timeToThreshold"] is None
    )


def test_trend_errors(api):
    error_of(api.get("/api/analytics/trends/device-001", params={"window": "2d"}), 400, "VALIDATION_ERROR")
    error_of(api.get("/api/analytics/trends/device-404"), 404, "DEVICE_NOT_FOUND")


# --------------------------------------------------------------------------- summary


def test_summary_per_device_and_day_with_mtta_and_mttr(api, clean_db):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    rows = [  # device, hour, avg, min, max, count
        ("device-001", yesterday + timedelta(hours=1), 10, 5, 20, 100),
        ("device-001", yesterday + timedelta(hours=2), 40, 30, 50, 300),
        ("device-001", today, 70, 60, 75, 50),
        ("device-002", today, 30, 29, 31, 10),
        ("device-002", today - timedelta(days=10), 1, 1, 1, 99),  # outside the 2 days
    ]
    for device, hour, avg, low, high, count in rows:
        sql(
            clean_db,
            "INSERT INTO device_stats_hourly (device_id, hour_timestamp, avg_value, min_value, max_value, count_readings)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            device,
            hour,
            avg,
            low,
            high,
            count,
        )
    alert(clean_db, "device-001", "threshold_exceeded", "high", yesterday + timedelta(hours=3), ack_s=60, resolve_s=300)
    alert(clean_db, "device-001", "data_anomaly", "medium", yesterday + timedelta(hours=5), ack_s=120, resolve_s=900)
    alert(clean_db, "device-001", "data_anomaly", "medium", yesterday + timedelta(hours=9))
    alert(clean_db, "device-002", "threshold_exceeded", "low", today + timedelta(seconds=1), resolve_s=30)

    data = data_of(api.get("/api/analytics/summary", params={"days": 2}))
    assert (data["days"], data["from"], data["to"]) == (2, yesterday.date().isoformat(), today.date().isoformat())
    devices = {d["deviceId"]: d for d in data["devices"]}
    assert list(devices) == ["device-001", "device-002", "device-003", "device-004", "device-005"]
    one = devices["device-001"]
    assert one["days"][0] == {
        "date": yesterday.date().isoformat(),
        "readings": 400,
        "avg": 32.5,
        "min": 5.0,
        "max": 50.0,
        "alerts": {"threshold_exceeded": 1, "data_anomaly": 2},
        "alertsTotal": 3,
        "mttaSeconds": 90.0,
        "mttrSeconds": 600.0,
    }
    assert one["days"][1] | {"alerts": None} == {
        "date": today.date().isoformat(),
        "readings": 50,
        "avg": 70.0,
        "min": 60.0,
        "max": 75.0,
        "alerts": None,
        "alertsTotal": 0,
        "mttaSeconds": None,
        "mttrSeconds": None,
    }
    assert one["totals"] == {"readings": 450, "alerts": 3, "mttaSeconds": 90.0, "mttrSeconds": 600.0}
    assert devices["device-002"]["totals"] == {"readings": 10, "alerts": 1, "mttaSeconds": None, "mttrSeconds": 30.0}
    assert devices["device-003"] == {
        "deviceId": "device-003",
        "days": [],
        "totals": {"readings": 0, "alerts": 0, "mttaSeconds": None, "mttrSeconds": None},
    }
    assert data["overall"] == {"readings": 460, "alerts": 4, "mttaSeconds": 90.0, "mttrSeconds": 410.0}
    default = data_of(api.get("/api/analytics/summary"))
    assert default["days"] == 7 and default["overall"]["readings"] == 460


@pytest.mark.parametrize("days", ["0", "91", "week", "-1"])
def test_summary_errors(api, days):
    error_of(api.get("/api/analytics/summary", params={"days": days}), 400, "VALIDATION_ERROR")
