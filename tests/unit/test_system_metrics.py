"""The system's figures aggregate writes to `system:metrics` (pure): active devices, readings in the last hour,
open alerts, health; and which per-minute counters can go."""

from __future__ import annotations

import msgspec

from iotmon.core.system_metrics import DEFAULT_OFFLINE_S, MINUTES_KEPT, Watched, stale_minutes, system_metrics

NOW = 1_767_225_600.0 + 30  # 30 s into a minute
MINUTE = int(NOW // 60)
FIVE = {f"device-00{n}": Watched(offline_timeout_s=30.0, monitored=True) for n in range(1, 6)}


def test_active_devices_were_heard_from_within_their_own_offline_timeout():
    devices = {**FIVE, "device-005": Watched(offline_timeout_s=120.0, monitored=True)}
    seen = [
        ("device-001", NOW - 10),
        ("device-002", NOW - 30),  # exactly at the timeout: still active
        ("device-003", NOW - 30.5),  # just past it
        ("device-005", NOW - 100),  # within its own, longer timeout
    ]
    figures = system_metrics(devices, seen, open_alerts=0, readings_per_minute={}, now_s=NOW)
    assert figures.active_devices == 3 and figures.total_devices == 5


def test_a_device_not_in_the_catalog_gets_the_default_timeout():
    assert DEFAULT_OFFLINE_S == 30.0
    seen = [("gw-7-new", NOW - 29), ("gw-7-old", NOW - 31)]
    figures = system_metrics(FIVE, seen, 0, {}, NOW)
    assert figures.active_devices == 1 and figures.total_devices == 5  # counted active, not in the total


def test_readings_of_the_last_sixty_minutes_are_counted_the_current_one_included():
    per_minute = {MINUTE: 7, MINUTE - 1: 5, MINUTE - 59: 3, MINUTE - 60: 1000, MINUTE - 500: 1000}
    assert system_metrics(FIVE, [], 0, per_minute, NOW).data_points_last_hour == 15


def test_open_alerts_are_passed_through():
    assert system_metrics(FIVE, [], 12, {}, NOW).active_alerts_count == 12


def test_health_is_healthy_when_every_monitored_device_sends():
    seen = [(device, NOW - 1) for device in FIVE]
    assert system_metrics(FIVE, seen, 0, {}, NOW).system_health == "healthy"


def test_health_is_degraded_when_a_monitored_device_is_silent():
    seen = [(device, NOW - 1) for device in list(FIVE)[:4]]
    assert system_metrics(FIVE, seen, 0, {}, NOW).system_health == "degraded"


def test_health_is_unhealthy_when_no_device_sends():
    assert system_metrics(FIVE, [], 0, {}, NOW).system_health == "unhealthy"
    assert system_metrics(FIVE, [("device-001", NOW - 600)], 0, {}, NOW).system_health == "unhealthy"


def test_devices_not_expected_to_send_do_not_degrade_health():
    devices = {**FIVE, "device-005": Watched(30.0, monitored=False)}  # e.g. in maintenance
    seen = [(device, NOW - 1) for device in list(FIVE)[:4]]
    figures = system_metrics(devices, seen, 0, {}, NOW)
    assert (figures.system_health, figures.active_devices, figures.total_devices) == ("healthy", 4, 5)


def test_no_devices_at_all_is_healthy_and_all_zero():
    figures = system_metrics({}, [], 0, {}, NOW)
    assert (figures.total_devices, figures.active_devices, figures.data_points_last_hour) == (0, 0, 0)
    assert figures.system_health == "healthy"


def test_the_document_is_the_seed_shape():
    figures = system_metrics(FIVE, [("device-001", NOW)], 2, {MINUTE: 4}, NOW)
    assert msgspec.to_builtins(figures) == {
        "totalDevices": 5,
        "activeDevices": 1,
        "activeAlertsCount": 2,
        "dataPointsLastHour": 4,
        "systemHealth": "degraded",
    }


def test_minute_counters_older_than_two_hours_are_stale():
    assert MINUTES_KEPT == 120
    counters = {MINUTE: 1, MINUTE - 60: 1, MINUTE - 120: 1, MINUTE - 121: 1, MINUTE - 1000: 1}
    assert sorted(stale_minutes(counters, NOW)) == [MINUTE - 1000, MINUTE - 121]
    assert stale_minutes({}, NOW) == []
