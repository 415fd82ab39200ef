"""evaluate-rule's pure steps: readings grouped per device, what is left to judge, the machines run in time order."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from eventing.events import batch_event, make_event, reading_event
from eventing.sources import wrap_record
from eventing.transport import Record
from functions.evaluate_rule import FLAP, device_run, readings_by_device, run_machines
from iotmon.adapters.redis.rule_state import Stored
from iotmon.core import alert_machine
from iotmon.core.alert_machine import FLAPPING, RESOLVE, TRIGGER, UPDATE, MachineState
from iotmon.core.rules import BREACH, CLEAR, HOLD, NONE, DeviceRules, Finding, Series

T0 = datetime(2026, 1, 11, 10, 0, tzinfo=UTC)
EPOCH0 = T0.timestamp()


def reading(device: str = "device-001", seconds: float = 0.0, value: float = 50.0, **extra: object) -> dict:
    at = T0 + timedelta(seconds=seconds)
    return {
        "deviceId": device,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sensorType": "temperature",
        "value": value,
        "unit": "celsius",
        **extra,
    }


def as_from_kafka(event):
    event.data = json.dumps(event.data).encode()
    return event


# --------------------------------------------------------------------------- readings_by_device


def test_reading_and_batch_events_are_grouped_per_device_as_epoch_seconds_and_values():
    events = [
        reading_event(reading("device-001", 0.5, 70.0), "/sim"),
        batch_event([reading("device-002", 1, 30.0), reading("device-001", 2, 71.0)], "/gw", key="gw-1"),
        as_from_kafka(reading_event(reading("device-002", 3, 31.5), "/sim")),  # bytes, as Kafka delivers it
    ]
    found, refused = readings_by_device(events)
    assert refused == []
    assert found == {
        "device-001": [(EPOCH0 + 0.5, 70.0), (EPOCH0 + 2, 71.0)],
        "device-002": [(EPOCH0 + 1, 30.0), (EPOCH0 + 3, 31.5)],
    }


def test_readings_keep_the_order_they_came_in_and_offsets_are_honoured():
    late = {**reading("device-001", 0, 1.0), "timestamp": "2026-01-11T12:00:05+02:00"}  # 10:00:05 UTC
    found, _ = readings_by_device([batch_event([reading("device-001", 9, 2.0), late], "/gw", key="device-001")])
    assert found == {"device-001": [(EPOCH0 + 9, 2.0), (EPOCH0 + 5, 1.0)]}  # sorting is device_run's job


def test_a_wrapped_plain_kafka_record_is_read_as_the_reading_it_carries():
    record = Record("metrics", 2, 17, b"device-003", (), json.dumps(reading("device-003", 4, 40.0)).encode())
    found, refused = readings_by_device([wrap_record(record, "evaluate-rule-metrics")])
    assert refused == [] and found == {"device-003": [(EPOCH0 + 4, 40.0)]}


def test_events_without_readings_are_refused_by_id_and_the_rest_still_counts():
    other = make_event("com.example.other.v1", "/elsewhere", {"hello": "world"}, event_id="other-1")
    broken = make_event("io.iotmon.reading.v1", "/sim", {"deviceId": "device-001"}, event_id="broken-1")
    empty = make_event("io.iotmon.reading.batch.v1", "/gw", {"readings": []}, event_id="empty-1")
    good = reading_event(reading("device-001", 1, 60.0), "/sim")
    found, refused = readings_by_device([other, broken, good, empty])
    assert found == {"device-001": [(EPOCH0 + 1, 60.0)]}
    assert len(refused) == 3
    assert refused[0].startswith("event other-1: unknown event type 'com.example.other.v1'")
    assert refused[1].startswith("event broken-1: ") and "required field" in refused[1]
    assert refused[2] == "event empty-1: batch has no readings (at least 1 required)"


def test_a_batch_with_some_bad_readings_keeps_the_good_ones_and_warns(caplog: pytest.LogCaptureFixture):
    bad = {**reading("device-002", 2), "value": "hot"}
    event = batch_event([reading("device-002", 1, 30.0), bad, reading("device-002", 3, 32.0)], "/ingest", "device-002")
    with caplog.at_level(logging.WARNING):
        found, refused = readings_by_device([event])
    assert refused == []  # not refused: the event had readings to judge
    assert found == {"device-002": [(EPOCH0 + 1, 30.0), (EPOCH0 + 3, 32.0)]}
    [warning] = [r for r in caplog.records if r.getMessage() == "invalid readings on metrics"]
    assert warning.levelno == logging.WARNING and warning.count == 1 and warning.event == event["id"]


def test_no_events_give_nothing():
    assert readings_by_device([]) == ({}, [])


# --------------------------------------------------------------------------- device_run

NO_STATE = Stored(None, {}, [])


def test_without_state_every_reading_is_new_sorted_with_one_value_per_instant():
    run = device_run("device-001", [(30.0, 3.0), (10.0, 1.0), (20.0, 2.0), (10.0, 1.5)], NO_STATE)
    assert run is not None
    assert run.device_id == "device-001" and run.start == 0 and run.last_ts is None and run.machines == {}
    assert run.times.tolist() == [10.0, 20.0, 30.0]
    assert run.values.tolist() == [1.5, 2.0, 3.0]  # the later of two values at one instant
    assert run.times.dtype == np.float64 and run.values.dtype == np.float64


def test_readings_at_or_before_the_last_judged_are_dropped_and_the_window_goes_first():
    machine = MachineState(open=True, severity=2)
    stored = Stored(20.0, {"threshold_exceeded": machine}, [(5.0, 0.5), (10.0, 1.0), (20.0, 2.0)])
    run = device_run("device-001", [(15.0, 9.0), (20.0, 9.0), (25.0, 2.5), (30.0, 3.0)], stored)
    assert run is not None
    assert run.times.tolist() == [5.0, 10.0, 20.0, 25.0, 30.0]
    assert run.values.tolist() == [0.5, 1.0, 2.0, 2.5, 3.0]
    assert run.start == 3 and run.last_ts == 20.0
    assert run.machines == {"threshold_exceeded": machine} and run.machines is not stored.machines


def test_window_entries_not_before_the_first_new_reading_are_left_out():
    # A window saved by another replica may reach past this batch's first new reading.
    stored = Stored(10.0, {}, [(5.0, 0.5), (12.0, 1.2), (15.0, 1.5)])
    run = device_run("device-001", [(11.0, 1.1), (13.0, 1.3)], stored)
    assert run is not None
    assert run.times.tolist() == [5.0, 11.0, 13.0] and run.start == 1


def test_a_redelivered_batch_leaves_nothing_to_judge():
    stored = Stored(30.0, {}, [(10.0, 1.0), (20.0, 2.0), (30.0, 3.0)])
    assert device_run("device-001", [(10.0, 1.0), (30.0, 3.0)], stored) is None
    assert device_run("device-001", [], NO_STATE) is None


# --------------------------------------------------------------------------- run_machines


def series(rule: str, kinds: list[int], severities: list[int] | None = None) -> Series:
    def describe(i: int) -> Finding:
        return Finding(f"{rule} at {i}", None, None, {})

    return Series(
        rule,
        np.array(kinds, dtype=np.int8),
        np.array(severities or [0] * len(kinds), dtype=np.int8),
        describe,
    )


def times(n: int, period: float = 2.0) -> np.ndarray:
    return EPOCH0 + period * np.arange(n, dtype=float)


RULES = DeviceRules("device-001", normal_min=20, normal_max=80, alert_min=15, alert_max=85)  # breach_count 2, 30 s


def test_nothing_happens_without_a_breach_and_each_rule_gets_a_quiet_machine():
    machines: dict[str, MachineState] = {}
    found = run_machines(RULES, [series("threshold_exceeded", [CLEAR, HOLD, NONE, CLEAR])], times(4), machines, FLAP)
    assert found == []
    assert machines == {"threshold_exceeded": MachineState()}


def test_the_device_breach_count_decides_when_an_alert_opens():
    kinds = [CLEAR, BREACH, BREACH, BREACH, BREACH]
    assert run_machines(RULES, [series("threshold_exceeded", kinds)], times(5), {}, FLAP) == [
        ("threshold_exceeded", TRIGGER, 2)
    ]
    strict = DeviceRules("device-001", alert_max=85, breach_count=4)
    machines: dict[str, MachineState] = {}
    assert run_machines(strict, [series("threshold_exceeded", kinds)], times(5), machines, FLAP) == [
        ("threshold_exceeded", TRIGGER, 4)
    ]
    assert machines["threshold_exceeded"].open  # the machines are updated in place, for the caller to save


def test_a_count_in_progress_carries_over_from_the_last_batch():
    machines = {"threshold_exceeded": MachineState(breaches=1)}
    found = run_machines(RULES, [series("threshold_exceeded", [BREACH, CLEAR])], times(2), machines, FLAP)
    assert found == [("threshold_exceeded", TRIGGER, 0)]


def test_an_open_alert_rises_in_severity_and_resolves_after_clear_after_s_of_reading_time():
    rules_ = DeviceRules("device-001", alert_max=85, clear_after_s=4)
    machines = {"threshold_exceeded": MachineState(open=True, severity=1)}
    kinds = [BREACH, BREACH, CLEAR, CLEAR, CLEAR, CLEAR]  # every 2 s: clear from t=4, resolved at t=8
    found = run_machines(rules_, [series("threshold_exceeded", kinds, [1, 3, 0, 0, 0, 0])], times(6), machines, FLAP)
    assert found == [("threshold_exceeded", UPDATE, 1), ("threshold_exceeded", RESOLVE, 4)]
    assert not machines["threshold_exceeded"].open


def test_changes_of_several_rules_come_in_time_order():
    threshold = series("threshold_exceeded", [CLEAR, CLEAR, BREACH, BREACH, CLEAR])
    anomaly = series("data_anomaly", [BREACH, BREACH, CLEAR, CLEAR, CLEAR])
    found = run_machines(RULES, [threshold, anomaly], times(5), {}, FLAP)
    assert found == [("data_anomaly", TRIGGER, 1), ("threshold_exceeded", TRIGGER, 3)]


def test_the_flap_settings_come_from_the_function_and_the_counts_from_the_device():
    rules_ = DeviceRules("device-001", alert_max=85, breach_count=1, clear_after_s=0)
    flap = alert_machine.Settings(flap_window_s=600, flap_transitions=2)  # breach_count/clear_after_s ignored
    kinds = [BREACH, CLEAR, BREACH, CLEAR]
    found = run_machines(rules_, [series("threshold_exceeded", kinds)], times(4), {}, flap)
    # enter at 0, exit at 1 (2 transitions: flapping at once, with 2 allowed), stays open through the rest
    assert found == [("threshold_exceeded", TRIGGER, 0), ("threshold_exceeded", FLAPPING, 1)]
    calm = alert_machine.Settings(flap_window_s=600, flap_transitions=10)
    assert [t for _, t, _ in run_machines(rules_, [series("threshold_exceeded", kinds)], times(4), {}, calm)] == [
        TRIGGER,
        RESOLVE,
        TRIGGER,
        RESOLVE,
    ]
