"""The alert rules: pure functions over readings (no servers)."""

from datetime import datetime

import numpy as np
import pytest

from iotmon.core import rules
from iotmon.core.rules import BREACH, CLEAR, HOLD, NONE, DeviceRules

TEMPERATURE = DeviceRules(
    "device-001",
    normal_min=20,
    normal_max=80,
    alert_min=15,
    alert_max=85,
    hysteresis_pct=2.0,
)


def _times(n, start=1_767_225_600.0, period=2.0):
    return start + period * np.arange(n)


def test_threshold_exceeded_breach_hold_clear_with_hysteresis():
    # span 60, hysteresis 1.2: clear at <= 83.8, hold in (83.8, 85]
    values = np.array([85.5, 85.0, 84.0, 83.8, 70.0])
    series = rules.threshold_exceeded(TEMPERATURE, _times(5), values)
    assert series.kinds.tolist() == [BREACH, HOLD, HOLD, CLEAR, CLEAR]
    finding = series.describe(0)
    assert finding.value == 85.5 and finding.threshold == 85
    assert "above the alert maximum" in finding.message


def test_threshold_below():
    values = np.array([14.0, 15.0, 16.2, 16.0])
    series = rules.threshold_below(TEMPERATURE, _times(4), values)
    assert series.kinds.tolist() == [BREACH, HOLD, CLEAR, HOLD]


def test_no_rule_without_its_threshold():
    vibration = DeviceRules("device-003", normal_min=0, normal_max=100, alert_max=120)
    assert rules.threshold_below(vibration, _times(1), np.array([1.0])) is None


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
    series = rules.threshold_exceeded(TEMPERATURE, _times(1), np.array([value]))
    assert rules.SEVERITIES[series.severities[0]] == severity
    assert rules.severity_for(value - 85, 60) == severity


def test_hysteresis_falls_back_to_the_alert_range_without_a_normal_range():
    device = DeviceRules("d", alert_min=0, alert_max=50, hysteresis_pct=10)
    assert device.normal_span == 50 and device.hysteresis == pytest.approx(5)


def test_anomaly_band_is_median_plus_minus_sensitivity_mad():
    window = np.array([10.0, 11, 12, 13, 14])
    median, mad, low, high = rules.anomaly_band(window, 4.0)
    assert median == 12 and mad == 1
    assert low == pytest.approx(12 - 4 / 0.6745) and high == pytest.approx(12 + 4 / 0.6745)


def test_data_anomaly_needs_enough_samples_and_reports_the_band():
    rng = np.random.default_rng(1)
    values = np.concatenate([50 + rng.normal(0, 1, 40), [80.0, 50.2]])
    device = DeviceRules(
        "device-002",
        normal_min=10,
        normal_max=50,
        alert_min=5,
        alert_max=100,
        anomaly_sensitivity=4.0,
    )
    series = rules.data_anomaly(device, _times(len(values)), values, 0)
    assert (series.kinds[: rules.MIN_SAMPLES] == NONE).all()
    assert series.kinds[40] == BREACH and series.kinds[41] == CLEAR
    assert not (series.kinds[rules.MIN_SAMPLES : 40] == BREACH).any()
    details = series.describe(40).details
    window = values[:40]
    _median, _mad, low, high = rules.anomaly_band(window, 4.0, device.normal_span)
    assert details["expectedMin"] == pytest.approx(low, abs=1e-3) and details["expectedMax"] == pytest.approx(
        high, abs=1e-3
    )
    assert details["score"] > 4.0 and details["samples"] == 40


def test_data_anomaly_in_a_later_batch_uses_the_rolling_window():
    rng = np.random.default_rng(2)
    values = np.concatenate([50 + rng.normal(0, 1, 200), [58.0]])
    device = DeviceRules("d", normal_min=0, normal_max=100, alert_max=200)
    whole = rules.data_anomaly(device, _times(len(values)), values, 0)
    tail = rules.data_anomaly(device, _times(len(values)), values, 150)
    assert np.array_equal(whole.kinds[150:], tail.kinds)  # same verdicts however the readings were batched
    assert tail.kinds[-1] == BREACH


def test_constant_signal_has_a_mad_floor():
    values = np.full(40, 300.0)
    device = DeviceRules("device-004", normal_min=100, normal_max=500, alert_min=50)
    series = rules.data_anomaly(device, _times(40), values, 0)
    assert not (series.kinds == BREACH).any()


def test_trend_projects_the_crossing_time():
    times = _times(60, period=10.0)
    values = 60 + 0.01 * (times - times[0])  # +0.01 per second: 65.9 at the end, 85 in ~1910 s
    device = DeviceRules(
        "device-001",
        normal_min=20,
        normal_max=80,
        alert_max=85,
        alert_min=15,
        trend_horizon_s=3600,
    )
    forecast = rules.fit_trend(times, values + np.tile([0.01, -0.01], 30), device)
    assert forecast.slope == pytest.approx(0.01, rel=1e-2)
    assert forecast.threshold == 85
    assert forecast.seconds == pytest.approx((85 - values[-1]) / 0.01, rel=0.02)
    series = rules.trend_warning(device, times, values + np.tile([0.01, -0.01], 30), 0)
    assert series.kinds[-1] == BREACH
    details = series.describe(59).details
    assert details["secondsToThreshold"] == pytest.approx(1910, abs=25)
    crosses = datetime.fromisoformat(details["crossesAt"]).timestamp()
    assert crosses == pytest.approx(times[-1] + details["secondsToThreshold"], abs=0.1)


def test_trend_outside_the_horizon_or_flat_is_clear():
    times = _times(60, period=10.0)
    rising = 60 + 0.01 * (times - times[0]) + np.tile([0.01, -0.01], 30)
    short = DeviceRules("device-001", normal_min=20, normal_max=80, alert_max=85, trend_horizon_s=900)
    assert rules.trend_warning(short, times, rising, 0).kinds[-1] == CLEAR  # 1910 s > 1.5 × 900
    flat = 60 + np.tile([0.5, -0.5], 30)
    assert rules.trend_warning(short, times, flat, 0).kinds[-1] == CLEAR


def test_falling_trend_heads_for_the_minimum():
    times = _times(60, period=10.0)
    values = 30 - 0.02 * (times - times[0]) + np.tile([0.01, -0.01], 30)  # 18.2 at the end, 15 in ~160 s
    device = DeviceRules(
        "device-001",
        normal_min=20,
        normal_max=80,
        alert_max=85,
        alert_min=15,
        trend_horizon_s=900,
    )
    series = rules.trend_warning(device, times, values, 0)
    assert series.kinds[-1] == BREACH
    details = series.describe(59).details
    assert details["direction"] == "down" and details["secondsToThreshold"] == pytest.approx(160, abs=5)
    assert rules.SEVERITIES[series.severities[-1]] == "high"  # under a quarter of the horizon


def test_noise_alone_raises_no_trend():
    rng = np.random.default_rng(3)
    times = _times(600)
    values = 75 + rng.normal(0, 2, 600)
    device = DeviceRules(
        "device-001",
        normal_min=20,
        normal_max=80,
        alert_max=85,
        alert_min=15,
        trend_horizon_s=900,
    )
    assert (rules.trend_warning(device, times, values, 0).kinds == BREACH).mean() < 0.02


def test_evaluate_runs_every_applicable_rule():
    names = [s.rule for s in rules.evaluate(TEMPERATURE, _times(3), np.array([1.0, 2.0, 3.0]))]
    assert names == [
        "threshold_exceeded",
        "threshold_below",
        "data_anomaly",
        "trend_warning",
    ]
