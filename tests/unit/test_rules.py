"""The alert rules: one reading's verdict at a time (pure, no servers)."""

from datetime import datetime

import pytest

from iotmon.core import online_trend, rules
from iotmon.core.detector import Observation
from iotmon.core.rules import BREACH, CLEAR, HOLD, NONE, DeviceRules

TEMPERATURE = DeviceRules("device-001", normal_min=20, normal_max=80, alert_min=15, alert_max=85, hysteresis_pct=2.0)
T0 = 1_767_225_600.0


def kinds(verdict_of, values):
    return [verdict_of(TEMPERATURE, T0, value).kind for value in values]


def test_threshold_exceeded_breach_hold_clear_with_hysteresis():
    # span 60, hysteresis 1.2: clear at <= 83.8, hold in (83.8, 85]
    assert kinds(rules.threshold_exceeded, [85.5, 85.0, 84.0, 83.8, 70.0]) == [BREACH, HOLD, HOLD, CLEAR, CLEAR]
    finding = rules.threshold_exceeded(TEMPERATURE, T0, 85.5).finding
    assert finding is not None and finding.value == 85.5 and finding.threshold == 85
    assert "above the alert maximum" in finding.message and finding.details["excess"] == 0.5


def test_threshold_below():
    assert kinds(rules.threshold_below, [14.0, 15.0, 16.2, 16.0]) == [BREACH, HOLD, CLEAR, HOLD]


def test_no_verdict_without_its_threshold():
    vibration = DeviceRules("device-003", normal_min=0, normal_max=100, alert_max=120)
    assert rules.threshold_below(vibration, T0, -1000.0).kind == NONE


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        (85.1, "low"),
        (87.9, "low"),
        (88.0, "medium"),
        (93.9, "medium"),
        (94.0, "high"),
        (102.9, "high"),
        (103.0, "critical"),
    ],
)
def test_severity_bands_are_shares_of_the_normal_span(value, severity):
    # span 60: < 3 low, < 9 medium, < 18 high, else critical
    assert rules.SEVERITIES[rules.threshold_exceeded(TEMPERATURE, T0, value).severity] == severity
    assert rules.severity_for(value - 85, 60) == severity


def test_hysteresis_falls_back_to_the_alert_range_without_a_normal_range():
    device = DeviceRules("d", alert_min=0, alert_max=50, hysteresis_pct=10)
    assert device.normal_span == 50 and device.hysteresis == pytest.approx(5)


def test_a_row_with_nulls_takes_the_defaults_and_the_period_follows_the_configuration():
    device = DeviceRules.from_row({"device_id": "d", "breach_count": None, "update_period_ms": 5000})
    assert device.breach_count == 1 and device.breach_for_s == 0 and device.clear_after_s == 30
    assert device.period_s(learnt=2.0) == 5.0 and device.trend_window(5.0) == rules.TREND_PERIODS * 5.0
    learning = DeviceRules("d")
    assert learning.period_s(learnt=None) == rules.DEFAULT_PERIOD_S and learning.period_s(learnt=300.0) == 300.0
    assert DeviceRules("d", trend_window_s=600).trend_window(300.0) == 600


def _seen(score, warming_up=False):
    return Observation(score=score, expected=50.0, low=45.0, high=55.0, kind="spike", warming_up=warming_up)


def test_an_anomaly_verdict_follows_the_score_and_explains_itself():
    assert rules.data_anomaly(TEMPERATURE, T0, 50.0, _seen(3.0, warming_up=True)).kind == NONE
    assert rules.data_anomaly(TEMPERATURE, T0, 50.0, _seen(0.2)).kind == CLEAR
    assert rules.data_anomaly(TEMPERATURE, T0, 50.0, _seen(0.7)).kind == HOLD
    verdict = rules.data_anomaly(TEMPERATURE, T0, 61.0, _seen(2.5))
    assert verdict.kind == BREACH and rules.SEVERITIES[verdict.severity] == "medium"
    assert verdict.finding is not None
    details = verdict.finding.details
    assert (details["expectedMin"], details["expectedMax"], details["score"]) == (45.0, 55.0, 2.5)
    assert details["detector"] and details["kind"] == "spike"
    assert verdict.finding.threshold == 55.0 and "expected band [45, 55]" in verdict.finding.message


def _fit(times, values, window_s):
    state = online_trend.TrendState()
    for t, v in zip(times, values, strict=True):
        online_trend.add(state, t, v, window_s)
    return online_trend.line(state)


def test_trend_projects_the_crossing_time():
    times = [T0 + 10.0 * i for i in range(120)]
    values = [60 + 0.01 * (t - T0) + (0.01 if i % 2 else -0.01) for i, t in enumerate(times)]  # +0.01/s
    device = DeviceRules("device-001", normal_min=20, normal_max=80, alert_max=85, alert_min=15, trend_horizon_s=3600)
    fit = _fit(times, values, window_s=600)
    assert fit is not None and fit.slope == pytest.approx(0.01, rel=1e-2)
    assert fit.fitted == pytest.approx(values[-1], abs=0.05)
    verdict = rules.trend_warning(device, times[-1], values[-1], fit)
    assert verdict.kind == BREACH and verdict.finding is not None
    details = verdict.finding.details
    assert details["secondsToThreshold"] == pytest.approx((85 - values[-1]) / 0.01, abs=25)
    crosses = datetime.fromisoformat(details["crossesAt"]).timestamp()
    assert crosses == pytest.approx(times[-1] + details["secondsToThreshold"], abs=0.1)


def test_trend_outside_the_horizon_or_flat_is_clear_and_falling_heads_for_the_minimum():
    times = [T0 + 10.0 * i for i in range(120)]
    short = DeviceRules("device-001", normal_min=20, normal_max=80, alert_max=85, alert_min=15, trend_horizon_s=900)
    rising = [60 + 0.01 * (t - T0) for t in times]  # 71.9 at the end: 85 in ~1310 s, under 1.5 × 900: hold
    assert rules.trend_warning(short, times[-1], rising[-1], _fit(times, rising, 600)).kind == HOLD
    slow = [60 + 0.005 * (t - T0) for t in times]  # 85 in ~4400 s
    assert rules.trend_warning(short, times[-1], slow[-1], _fit(times, slow, 600)).kind == CLEAR
    flat = [60 + (0.5 if i % 2 else -0.5) for i in range(120)]
    assert rules.trend_warning(short, times[-1], flat[-1], _fit(times, flat, 600)).kind == CLEAR
    falling = [30 - 0.01 * (t - T0) for t in times]  # 18.1 at the end, 15 in ~310 s
    verdict = rules.trend_warning(short, times[-1], falling[-1], _fit(times, falling, 600))
    assert verdict.kind == BREACH and verdict.finding is not None
    assert verdict.finding.details["direction"] == "down" and verdict.finding.threshold == 15
    assert rules.SEVERITIES[verdict.severity] == "medium"  # under half the horizon


def test_noise_alone_raises_no_trend():
    import numpy as np

    rng = np.random.default_rng(3)
    device = DeviceRules("device-001", normal_min=20, normal_max=80, alert_max=85, alert_min=15, trend_horizon_s=900)
    state, breaches = online_trend.TrendState(), 0
    for i, value in enumerate(75 + rng.normal(0, 2, 3000)):
        online_trend.add(state, T0 + 2.0 * i, float(value), window_s=120)
        breaches += rules.trend_warning(device, T0 + 2.0 * i, float(value), online_trend.line(state)).kind == BREACH
    assert breaches / 3000 < 0.01


def test_the_expected_band_an_alert_states_stays_within_what_the_sensor_can_give():
    counter = DeviceRules.from_row({"device_id": "press-4", "unit": "units/hour"})
    assert (counter.physical_min, counter.physical_max) == (0.0, None)
    seen = Observation(score=2.0, expected=3.0, low=-4.0, high=10.0, kind="spike", warming_up=False)
    finding = rules.data_anomaly(counter, T0, 25.0, seen).finding
    assert finding is not None and (finding.details["expectedMin"], finding.details["expectedMax"]) == (0.0, 10.0)
    assert "expected band [0, 10]" in finding.message
    set_bounds = DeviceRules.from_row({"device_id": "d", "unit": "percentage", "physical_min": 50})
    assert (set_bounds.physical_min, set_bounds.physical_max) == (50.0, 100.0)
