"""Where a device is heading: the trend line's forecast and the time until it reaches an alert limit (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from iotmon.core.contracts.analytics import Crossing
from iotmon.core.forecast import (
    FORECAST_MINUTES,
    THRESHOLD_HORIZON_S,
    Fit,
    clamp,
    forecast,
    physical_bounds,
    time_to_threshold,
)
from iotmon.core.timestamps import iso

NOW = datetime(2026, 1, 11, 10, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- forecast


def line(slope: float, level: float = 50.0, noise: float = 0.5, n: int = 3600) -> Fit:
    """A fit over an hour of readings a second (x 0…3599 s), as regr_* would give it, noise of sd `noise`."""
    xs = np.arange(n, dtype=float)
    rng = np.random.default_rng(0)
    ys = level + slope * (xs - xs[-1]) + rng.normal(0, noise, n)
    k, b = np.polyfit(xs, ys, 1)
    xc, yc = xs - xs.mean(), ys - ys.mean()
    return Fit(n, float(k), float(b), float(xs.mean()), float(xc @ xc), float(yc @ yc), float(xc @ yc))


def test_a_significant_trend_is_forecast_15_30_and_60_minutes_ahead_with_an_interval():
    fit = line(0.005)  # +0.3 a minute
    assert fit.significant
    points = forecast(fit, 3599.0, NOW)
    assert FORECAST_MINUTES == (15, 30, 60)
    assert [(p.minutes, p.timestamp) for p in points] == [
        (15, "2026-01-11T10:15:00.000Z"),
        (30, "2026-01-11T10:30:00.000Z"),
        (60, "2026-01-11T11:00:00.000Z"),
    ]
    assert [p.value for p in points] == pytest.approx([54.5, 59.0, 68.0], abs=0.1)
    for p in points:  # about ±1.96 × the noise, a little wider further out
        assert p.low < p.value < p.high and p.high - p.value == pytest.approx(1.96 * 0.5, rel=0.1)
    assert points[2].high - points[2].low > points[0].high - points[0].low


def test_noise_is_no_trend_the_forecast_is_the_level():
    fit = line(0.00001, noise=2.0)  # 0.036 an hour in noise of sd 2: not significant
    assert not fit.significant
    points = forecast(fit, 3599.0, NOW)
    assert len({p.value for p in points}) == 1 and points[0].value == pytest.approx(50.0, abs=0.2)


def test_the_forecast_stays_within_the_physical_bounds():
    falling = line(-0.02, level=10.0)  # −72 an hour: would be below 0 within the hour
    bounds = physical_bounds("units/hour", None, None)
    assert bounds == (0.0, None)
    points = forecast(falling, 3599.0, NOW, bounds)
    assert points[-1].value == 0.0 and points[-1].low == 0.0 and all(p.value >= 0 for p in points)
    rising = line(0.01, level=99.0)  # a percentage heading past 100
    points = forecast(rising, 3599.0, NOW, physical_bounds("percentage", None, None))
    assert max(p.high for p in points) == 100.0
    assert physical_bounds("percentage", 10.0, None) == (10.0, 100.0)  # configured bounds win
    assert physical_bounds("celsius", None, None) == (None, None)
    assert clamp(5.0, (None, 4.0)) == 4.0


def test_timestamps_are_utc_whatever_the_zone_of_now():
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    fit = line(0.0)
    assert [p.timestamp for p in forecast(fit, 0.0, local)] == [p.timestamp for p in forecast(fit, 0.0, NOW)]


# --------------------------------------------------------------------------- time_to_threshold


def test_a_rising_line_reaches_alert_max():
    crossing = time_to_threshold(68.0, 0.005, 15.0, 85.0, NOW)
    assert crossing == Crossing(threshold="alertMax", value=85.0, seconds=3400.0, at=iso(NOW + timedelta(seconds=3400)))


def test_a_falling_line_reaches_alert_min():
    crossing = time_to_threshold(30.0, -0.02, 5.0, 55.0, NOW)
    assert crossing is not None
    assert (crossing.threshold, crossing.value, crossing.seconds) == ("alertMin", 5.0, 1250.0)
    assert crossing.at == "2026-01-11T10:20:50.000Z"


def test_seconds_are_rounded_to_a_tenth_and_the_time_is_exact_to_the_millisecond():
    crossing = time_to_threshold(0.0, 3.0, None, 1.0, NOW)  # 1/3 s
    assert crossing is not None and crossing.seconds == 0.3 and crossing.at == "2026-01-11T10:00:00.333Z"


@pytest.mark.parametrize(
    ("fitted", "slope", "bound", "value"),
    [
        (90.0, 0.01, "alertMax", 85.0),
        (90.0, -0.01, "alertMax", 85.0),  # past it, even if heading back
        (85.0, 0.0, "alertMax", 85.0),  # on the limit counts as reached
        (10.0, -0.01, "alertMin", 15.0),
        (15.0, 0.0, "alertMin", 15.0),
    ],
)
def test_a_line_already_past_a_limit_crosses_now(fitted, slope, bound, value):
    assert time_to_threshold(fitted, slope, 15.0, 85.0, NOW) == Crossing(
        threshold=bound, value=value, seconds=0.0, at=iso(NOW)
    )


def test_a_line_below_alert_min_crosses_now_even_when_rising():
    assert time_to_threshold(10.0, 0.5, 15.0, 85.0, NOW) == Crossing(
        threshold="alertMin", value=15.0, seconds=0.0, at=iso(NOW)
    )


def test_a_flat_line_inside_the_limits_never_crosses():
    assert time_to_threshold(50.0, 0.0, 15.0, 85.0, NOW) is None


def test_a_line_heading_for_a_limit_that_is_not_set_never_crosses():
    assert time_to_threshold(50.0, 0.01, 15.0, None, NOW) is None  # rising, no alertMax
    assert time_to_threshold(50.0, -0.01, None, 85.0, NOW) is None  # falling, no alertMin
    assert time_to_threshold(50.0, 0.01, None, None, NOW) is None


def test_a_crossing_beyond_the_seven_day_horizon_is_none_and_one_on_it_counts():
    assert THRESHOLD_HORIZON_S == 7 * 86_400
    on_the_horizon = time_to_threshold(0.0, 1.0, None, float(THRESHOLD_HORIZON_S), NOW)
    assert on_the_horizon is not None and on_the_horizon.seconds == THRESHOLD_HORIZON_S
    assert on_the_horizon.at == iso(NOW + timedelta(days=7))
    assert time_to_threshold(0.0, 1.0, None, THRESHOLD_HORIZON_S + 1.0, NOW) is None
    assert time_to_threshold(0.0, -1.0, -THRESHOLD_HORIZON_S - 1.0, None, NOW) is None


def test_alert_max_is_judged_before_alert_min():
    # Limits the API would refuse (alertMin above alertMax): the function still answers, alertMax first.
    assert time_to_threshold(50.0, 0.0, 60.0, 40.0, NOW).threshold == "alertMax"
