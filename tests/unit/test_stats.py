"""iotmon.core.stats against numpy and the statistics module, on random data and edge cases (no servers)."""

import math
import statistics

import msgspec
import numpy as np
import pytest

from iotmon.core import stats
from iotmon.core.stats import Moments, Ranges


def reference(t, v):
    t, v = np.asarray(t, float), np.asarray(v, float)
    slope = float(np.polyfit(t, v, 1)[0]) if len(t) > 1 and np.ptp(t) > 0 else 0.0
    return {
        "n": len(v),
        "avg": float(np.mean(v)),
        "std": float(np.std(v)),
        "slope": slope,
        "min": float(np.min(v)),
        "max": float(np.max(v)),
        "median": statistics.median(v.tolist()),
    }


def check(m: Moments, t, v):
    ref = reference(t, v)
    assert m.n == ref["n"]
    assert m.mean_v == pytest.approx(ref["avg"], rel=1e-12, abs=1e-9)
    assert stats.std(m) == pytest.approx(ref["std"], rel=1e-9, abs=1e-9)
    assert stats.slope(m) == pytest.approx(ref["slope"], rel=1e-7, abs=1e-12)
    assert (m.min, m.max) == (ref["min"], ref["max"])


@pytest.mark.parametrize("seed", range(5))
def test_moments_match_numpy_on_random_unordered_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5000))
    t = 1.77e9 + rng.uniform(0, 3600, n)  # epoch seconds, not sorted
    v = 50 + 0.01 * (t - t.min()) + rng.normal(0, 5, n)
    m = stats.moments(t, v)
    check(m, t, v)
    assert stats.median(v) == pytest.approx(reference(t, v)["median"])


@pytest.mark.parametrize("seed", range(5))
def test_merging_parts_equals_the_whole(seed):
    rng = np.random.default_rng(100 + seed)
    t = rng.uniform(0, 86_400, 3000)
    v = rng.normal(70, 8, 3000)
    cuts = np.sort(rng.choice(np.arange(1, 2999), 20, replace=False))
    parts = [stats.moments(tp, vp) for tp, vp in zip(np.split(t, cuts), np.split(v, cuts), strict=True)]
    check(stats.merge_all(parts), t, v)
    pairwise = Moments()
    for part in parts:
        pairwise = stats.merge(pairwise, part)
    check(pairwise, t, v)


def test_shifting_the_time_origin_changes_nothing_but_the_mean_time():
    t, v = [0.0, 10.0, 20.0], [1.0, 2.0, 4.0]
    m = stats.moments(t, v)
    s = m.shifted(100.0)
    assert s.mean_t == m.mean_t + 100 and stats.slope(s) == stats.slope(m) and stats.std(s) == stats.std(m)


def test_one_reading():
    m = stats.moments([5.0], [42.0])
    assert (m.n, m.mean_v, stats.std(m), stats.slope(m), m.min, m.max) == (1, 42.0, 0.0, 0.0, 42.0, 42.0)
    assert stats.trend(stats.slope(m), 3600, 60) == "stable"
    assert stats.median([42.0]) == 42.0


def test_identical_values_and_identical_timestamps():
    m = stats.moments([1.0, 2.0, 3.0], [7.0, 7.0, 7.0])
    assert stats.std(m) == 0.0 and stats.slope(m) == 0.0
    same_time = stats.moments([3.0, 3.0, 3.0], [1.0, 5.0, 9.0])
    assert stats.slope(same_time) == 0.0  # time does not vary: no slope, not a division by zero
    assert stats.std(same_time) == pytest.approx(np.std([1, 5, 9]))


def test_empty_window():
    m = stats.moments([], [])
    assert m.n == 0 and stats.std(m) == 0.0 and stats.slope(m) == 0.0 and stats.median([]) is None
    assert stats.merge(m, stats.moments([1.0], [2.0])).n == 1


def test_trend_tolerance_is_two_percent_of_the_normal_span_across_the_window():
    span = 60.0  # device-001: normal 20–80
    per_hour_limit = 0.02 * span / 3600  # 1.2 °C across the hour
    assert stats.trend(per_hour_limit * 0.99, 3600, span) == "stable"
    assert stats.trend(per_hour_limit * 1.01, 3600, span) == "increasing"
    assert stats.trend(-per_hour_limit * 1.01, 3600, span) == "decreasing"
    assert stats.trend(per_hour_limit * 0.99 / 24, 86_400, span) == "stable"
    assert stats.trend(1.0, 3600, None) == "stable"


def test_summary_uses_the_observed_range_without_a_normal_span():
    t = np.arange(100.0)
    doc = stats.summary(
        stats.moments(t, 2 * t),
        median_value=99.0,
        window_s=3600,
        normal_span=None,
        window_start="a",
        window_end="b",
        updated_at="c",
    )
    assert doc.trend == "increasing" and doc.slope == pytest.approx(2.0) and doc.count == 100
    assert set(msgspec.to_builtins(doc)) == {
        "avg",
        "min",
        "max",
        "count",
        "trend",
        "std",
        "median",
        "slope",
        "windowStart",
        "windowEnd",
        "updatedAt",
    }


def test_status_against_normal_and_alert_ranges():
    temperature = Ranges(20, 80, 15, 85)
    assert [stats.status(x, temperature) for x in (50, 80, 81, 85, 85.01, 19, 15, 14.9)] == [
        "normal",
        "normal",
        "warning",
        "warning",
        "critical",
        "warning",
        "warning",
        "critical",
    ]
    vibration = Ranges(0, 100, None, 120)
    assert stats.status(-1, vibration) == "warning" and stats.status(121, vibration) == "critical"
    assert stats.status(1e6, Ranges()) == "normal"


def test_stored_value_rounds_as_postgresql_numeric_does():
    assert stats.stored_value(75.234) == 75.23
    assert stats.stored_value(2.675) == 2.68  # decimal tie: away from zero (Python's round gives 2.67)
    assert stats.stored_value(-2.675) == -2.68
    assert stats.stored_value(1.005) == 1.01
    assert stats.stored_value(3.0) == 3.0
    assert math.isclose(stats.stored_value(99999999.994), 99999999.99)
