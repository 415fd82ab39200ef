"""The online trend line: an exponentially weighted least-squares fit in event time (pure)."""

import math

import msgspec
import numpy as np
import pytest

from iotmon.core import online_trend

T0 = 1_767_225_600.0


def feed(times, values, window_s):
    state = online_trend.TrendState()
    for t, v in zip(times, values, strict=True):
        online_trend.add(state, float(t), float(v), window_s)
    return state


def test_it_matches_a_weighted_least_squares_fit_computed_directly():
    rng = np.random.default_rng(1)
    times = T0 + np.cumsum(rng.uniform(0.5, 3.0, 400))
    values = 1000 + 0.2 * (times - T0) + rng.normal(0, 1, 400)
    fit = online_trend.line(feed(times, values, window_s=120))
    weights = np.exp(-(times[-1] - times) / 60)
    slope, intercept = np.polyfit(times - times[-1], values, 1, w=np.sqrt(weights))
    assert fit is not None
    assert fit.slope == pytest.approx(slope, rel=1e-6) and fit.fitted == pytest.approx(intercept, rel=1e-9)
    assert fit.effective == pytest.approx(weights.sum() ** 2 / (weights**2).sum(), rel=1e-6)
    assert fit.t_stat > 10


def test_the_same_signal_gives_the_same_line_at_any_reading_rate():
    lines = []
    for period in (1.0, 10.0):
        times = T0 + np.arange(0, 3600, period)
        lines.append(online_trend.line(feed(times, 5 + 0.001 * (times - T0), window_s=600)))
    assert lines[0] is not None and lines[1] is not None
    assert lines[0].slope == pytest.approx(lines[1].slope, rel=1e-6)


def test_too_few_readings_give_no_line_and_a_long_gap_starts_afresh():
    assert online_trend.line(feed(T0 + np.arange(5), np.arange(5.0), window_s=60)) is None
    state = feed(T0 + np.arange(100), np.arange(100.0), window_s=60)
    online_trend.add(state, T0 + 100_000, 7.0, 60)
    assert state.s0 == 1.0 and state.origin == 7.0 and online_trend.line(state) is None


def test_the_state_is_a_few_numbers_that_round_trip():
    state = feed(T0 + np.arange(10_000), np.sin(np.arange(10_000)), window_s=60)
    copy = msgspec.convert(msgspec.to_builtins(state), online_trend.TrendState)
    assert copy == state and len(msgspec.to_builtins(state)) == 11
    assert all(math.isfinite(v) for v in msgspec.to_builtins(state).values())
