"""One device's rules over its readings, in event time: the code evaluate-rule and the backtest share (pure)."""

import dataclasses
import json

import msgspec
import numpy as np
import pytest

from iotmon.core import detector, judge
from iotmon.core.alert_machine import RESOLVE, TRIGGER, UPDATE
from iotmon.core.judge import DeviceState
from iotmon.core.rules import BREACH, HOLD, DeviceRules, Finding, Verdict

T0 = 1_767_225_600.0
TEMPERATURE = DeviceRules("device-001", normal_min=20, normal_max=80, alert_min=15, alert_max=85, update_period_ms=2000)


def steady(n, start=0.0, period=2.0, value=50.0, seed=0):
    rng = np.random.default_rng(seed)
    return [(T0 + start + period * i, value + float(rng.normal(0, 0.5))) for i in range(n)]


def moves(changes):
    return [(change.rule, change.transition) for change in changes]


def test_one_reading_beyond_the_alert_limit_alerts_at_once_and_says_why():
    state = DeviceState()
    judge.judge(TEMPERATURE, state, steady(100))
    changes = [c for c in judge.judge(TEMPERATURE, state, [(T0 + 200, 86.0)]) if c.rule == "threshold_exceeded"]
    assert moves(changes) == [("threshold_exceeded", TRIGGER)]
    assert changes[0].at == T0 + 200 and changes[0].finding is not None and changes[0].finding.value == 86.0


def test_a_device_may_ask_for_a_breach_to_last_or_to_repeat():
    lasting = DeviceRules("device-001", alert_max=85, breach_for_s=30, update_period_ms=2000)
    state = DeviceState()
    hot = [(T0 + 2.0 * i, 90.0) for i in range(20)]
    changes = judge.judge(lasting, state, hot)
    assert [c.at - T0 for c in changes if c.rule == "threshold_exceeded"] == [30.0]
    counted = DeviceRules("device-001", alert_max=85, breach_count=3, update_period_ms=2000)
    changes = judge.judge(counted, DeviceState(), hot)
    assert [c.at - T0 for c in changes if c.rule == "threshold_exceeded"] == [4.0]


def test_a_renewed_anomaly_alert_is_the_old_one_resolving_and_a_new_one_triggering(monkeypatch):
    """Scripted anomaly verdicts: a breach, 150 periods held open near the band's edge, then a stronger one."""

    def scripted(config, at, value, seen):
        if value < 1.0:
            return Verdict(HOLD)
        return Verdict(BREACH, 0, Finding("anomalous", value, 0.0, {}), strength=value)

    monkeypatch.setattr(judge.rules, "data_anomaly", scripted)
    plain = DeviceRules("device-001", update_period_ms=2000)
    readings = [(T0, 2.0)] + [(T0 + 2.0 * i, 0.7) for i in range(1, 150)] + [(T0 + 300.0, 3.0)]
    changes = [c for c in judge.judge(plain, DeviceState(), readings) if c.rule == "data_anomaly"]
    assert [(c.at - T0, c.transition) for c in changes] == [(0.0, TRIGGER), (300.0, RESOLVE), (300.0, TRIGGER)]
    assert changes[-1].finding is not None and changes[-1].finding.value == 3.0


def test_an_alert_rises_in_severity_and_resolves_after_clear_after_s_of_reading_time():
    state = DeviceState()
    readings = [(T0, 86.0), (T0 + 2, 100.0), (T0 + 4, 70.0), (T0 + 20, 70.0), (T0 + 34, 70.0)]
    changes = judge.judge(TEMPERATURE, state, readings)
    assert [(c.transition, c.at - T0) for c in changes if c.rule == "threshold_exceeded"] == [
        (TRIGGER, 0.0),
        (UPDATE, 2.0),
        (RESOLVE, 34.0),
    ]


def test_batches_in_any_split_give_the_same_changes_as_one_and_a_redelivery_changes_nothing():
    readings = [*steady(300), (T0 + 600, 95.0), (T0 + 602, 50.0), *steady(100, start=604)]
    whole = judge.judge(TEMPERATURE, DeviceState(), readings)
    state, split = DeviceState(), []
    for i in range(0, len(readings), 37):
        batch = readings[i : i + 37]
        split += judge.judge(TEMPERATURE, state, batch)
        assert judge.judge(TEMPERATURE, state, batch) == []  # redelivered
        state = msgspec.convert(json.loads(json.dumps(msgspec.to_builtins(state))), DeviceState)  # as Redis keeps it
    assert split == whole and ("threshold_exceeded", TRIGGER) in moves(whole)


def test_readings_are_judged_in_time_order_and_one_older_than_the_last_judged_is_skipped():
    state = DeviceState()
    in_order = judge.judge(TEMPERATURE, DeviceState(), [(T0, 50.0), (T0 + 2, 90.0)])
    assert judge.judge(TEMPERATURE, state, [(T0 + 2, 90.0), (T0, 50.0)]) == in_order
    assert judge.judge(TEMPERATURE, state, [(T0 + 1, 10.0)]) == [] and state.last_ts == T0 + 2


def test_the_reporting_period_is_learnt_when_not_configured_and_gaps_do_not_stretch_it():
    state = DeviceState()
    readings = steady(200, period=300.0) + steady(200, start=300.0 * 200 + 86_400, period=300.0)
    judge.judge(DeviceRules("d"), state, readings)
    assert state.interval_s == pytest.approx(300.0, rel=0.05)


def test_every_part_of_the_state_goes_through_json_and_comes_back_equal():
    state = DeviceState()
    readings = [*steady(2_000), (T0 + 4_000.0, 90.0), (T0 + 4_002.0, 50.0)]
    judge.judge(TEMPERATURE, state, readings)
    assert state.machines  # the alert machines are part of it too
    data = json.loads(json.dumps(msgspec.to_builtins(state)))
    assert list(data["detector"]) == list(detector.DetectorState.__struct_fields__)
    restored = msgspec.convert(data, DeviceState)
    assert restored == state and msgspec.to_builtins(restored) == msgspec.to_builtins(state)
    assert msgspec.json.decode(msgspec.json.encode(state), type=DeviceState) == state  # as Redis keeps it


def test_the_state_stays_small_however_long_the_device_runs():
    state = DeviceState()
    judge.judge(TEMPERATURE, state, steady(20_000, period=1.0))
    size = len(json.dumps(msgspec.to_builtins(state)))
    judge.judge(TEMPERATURE, state, steady(20_000, start=20_000, period=1.0, seed=1))
    assert len(json.dumps(msgspec.to_builtins(state))) <= size + 200 and size < 4096


def test_any_sensitivity_the_contract_allows_is_judged():
    """Past about 38 robust deviations a Gaussian tail's probability underflows to 0 (its log failed):
    sensitivity is capped at detector.MAX_SENSITIVITY, and a gross error still stands out."""
    calm = dataclasses.replace(TEMPERATURE, anomaly_sensitivity=100.0)
    state = DeviceState()
    judge.judge(calm, state, steady(2 * int(detector.WARMUP_PERIODS)))
    judge.judge(calm, state, [(T0 + 10_000, 50.2)])
    assert state.last_ts == T0 + 10_000
