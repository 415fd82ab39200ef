"""The live view's Socket.IO messages (pure): which event, which room and what payload for each alert change and
each new reading. (The basic alert messages are also in tests/unit/test_notifications.py.)"""

from __future__ import annotations

import msgspec
import pytest

from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.contracts.devices import WindowStats
from iotmon.core.live import (
    ALERT_RESOLVED,
    ALERT_TRIGGERED,
    ALERTS_ROOM,
    DEVICE_STATUS,
    SENSOR_DATA,
    SYSTEM_ROOM,
    alert_message,
    alert_messages,
    device_room,
    sensor_data,
)

AT = "2026-01-11T10:05:00.000Z"


def change(action: str = "triggered", **extra: object) -> AlertChange:
    status = {"updated": "triggered", "resolved": "resolved", "acknowledged": "acknowledged"}.get(action, action)
    fields = {
        "alertId": "alert-042",
        "deviceId": "device-004",
        "type": "threshold_below",
        "severity": "high",
        "status": status,
        "action": action,
        "message": "Production below 50 units/hour",
        "value": 10.0,
        "threshold": 50.0,
        "timestamp": AT,
        "sequence": 7,
        **extra,
    }
    return msgspec.convert(fields, AlertChange)


# --------------------------------------------------------------------------- alerts


@pytest.mark.parametrize("action", ["triggered", "updated", "acknowledged", "escalated"])
def test_every_change_but_a_resolve_is_alert_triggered_with_its_action(action):
    [message] = alert_messages(change(action))
    assert (message.event, message.room) == (ALERT_TRIGGERED, ALERTS_ROOM) == ("alert-triggered", "alerts")
    payload = msgspec.to_builtins(message.data)
    assert payload["action"] == action and payload["alertId"] == "alert-042"
    assert not {"resolvedAt", "resolvedBy", "replayed"} & set(payload)


def test_a_resolve_is_alert_resolved_with_when_and_by_whom():
    [message] = alert_messages(change("resolved", actor="olivia"))
    assert (message.event, message.room) == (ALERT_RESOLVED, ALERTS_ROOM)
    payload = msgspec.to_builtins(message.data)
    assert payload["resolvedAt"] == AT and payload["resolvedBy"] == "olivia"


def test_a_resolve_without_an_actor_names_nobody():
    [message] = alert_messages(change("resolved", actor=""))
    assert message.data.resolved_by is msgspec.UNSET and message.data.resolved_at == AT


def test_a_replayed_message_is_marked_and_otherwise_the_same():
    live = alert_message(change("escalated"))
    again = alert_message(change("escalated"), replayed=True)
    assert again.event == live.event and again.room == live.room
    assert msgspec.to_builtins(again.data) == {**msgspec.to_builtins(live.data), "replayed": True}


def test_the_payload_carries_the_whole_change():
    original = change("triggered", details={"breaches": 3}, triggeredAt=AT, note=None)
    [message] = alert_messages(original)
    assert msgspec.to_builtins(message.data) == msgspec.to_builtins(original)


@pytest.mark.parametrize(("action", "status"), [("triggered", "offline"), ("resolved", "online")])
def test_device_offline_moves_the_device_status_in_its_room_and_the_system_room(action, status):
    alert, *moves = alert_messages(change(action, type="device_offline", value=None, threshold=None))
    assert alert.event == (ALERT_RESOLVED if action == "resolved" else ALERT_TRIGGERED)
    assert [(m.event, m.room) for m in moves] == [(DEVICE_STATUS, "device:device-004"), (DEVICE_STATUS, SYSTEM_ROOM)]
    for move in moves:
        assert msgspec.to_builtins(move.data) == {
            "deviceId": "device-004",
            "status": status,
            "timestamp": AT,
            "alertId": "alert-042",
        }


@pytest.mark.parametrize("action", ["acknowledged", "escalated", "updated"])
def test_other_device_offline_changes_leave_the_device_status_alone(action):
    assert len(alert_messages(change(action, type="device_offline", value=None, threshold=None))) == 1


def test_other_alert_types_never_move_the_device_status():
    for kind in ("threshold_exceeded", "threshold_below", "data_anomaly", "trend_warning"):
        assert [m.event for m in alert_messages(change("triggered", type=kind))] == [ALERT_TRIGGERED]


# --------------------------------------------------------------------------- readings


HOUR = WindowStats(
    avg=300.5, min=250.0, max=350.0, count=60, trend="increasing", std=20.0, median=301.0, slope=0.01,
    window_start="2026-01-11T09:05:00.000Z", window_end=AT, updated_at=AT,
)  # fmt: skip


def test_sensor_data_carries_the_value_its_level_and_the_hours_statistics():
    data = sensor_data("device-004", AT, 321.0, "units/hour", "normal", HOUR)
    assert msgspec.to_builtins(data) == {
        "deviceId": "device-004",
        "timestamp": AT,
        "data": {"value": 321.0, "unit": "units/hour", "status": "normal"},
        "stats": {"avg": 300.5, "trend": "increasing", "min": 250.0, "max": 350.0},
    }


def test_sensor_data_without_statistics_or_unit_says_so_with_nulls():
    data = sensor_data("gw-7-sensor-1", AT, -4.5, None, "critical", None)
    assert msgspec.to_builtins(data) == {
        "deviceId": "gw-7-sensor-1",
        "timestamp": AT,
        "data": {"value": -4.5, "unit": None, "status": "critical"},
        "stats": {"avg": None, "trend": None, "min": None, "max": None},
    }


def test_sensor_data_goes_to_the_devices_room():
    assert SENSOR_DATA == "sensor-data"
    assert device_room("device-004") == "device:device-004" and device_room("gw-7:a.b") == "device:gw-7:a.b"
