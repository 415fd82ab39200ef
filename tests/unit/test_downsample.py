"""The choice of history resolution (iotmon.service.downsample)."""

from __future__ import annotations

import pytest

from iotmon.core import downsample

HOUR, DAY = 3600, 86_400


def test_raw_when_the_readings_fit():
    assert downsample.choose(0, 7 * DAY) == "raw"
    assert downsample.choose(2000, 7 * DAY) == "raw"


@pytest.mark.parametrize(
    ("span_s", "expected"),
    [
        (HOUR, "1m"),
        (24 * HOUR, "1m"),  # 1,441 minute buckets
        (33 * HOUR, "1m"),  # 1,981
        (34 * HOUR, "5m"),  # 2,041 minutes: too many
        (6 * DAY, "5m"),  # 1,729
        (7 * DAY, "1h"),  # 2,017 five-minute buckets: too many
        (90 * DAY, "1h"),
    ],
)
def test_the_finest_bucket_within_the_budget(span_s, expected):
    resolution = downsample.choose(2001, span_s)
    assert resolution == expected
    if resolution != "1h":
        assert downsample.buckets(span_s, downsample.STEP_S[resolution]) <= downsample.MAX_POINTS


def test_coarsest_when_nothing_fits_and_budget_is_configurable():
    assert downsample.choose(10**6, 365 * DAY) == "1h"  # 8,761 hours: the coarsest there is
    assert downsample.choose(101, 3 * DAY, max_points=100) == "1h"  # 73 hours
    assert downsample.choose(101, HOUR, max_points=100) == "1m"  # 61 minutes
    assert downsample.choose(100, HOUR, max_points=100) == "raw"


def test_bucket_counts():
    assert downsample.buckets(0, 60) == 1
    assert downsample.buckets(59.9, 60) == 1
    assert downsample.buckets(60, 60) == 2
    with pytest.raises(ValueError):
        downsample.buckets(-1, 60)
    assert set(downsample.STEP_S) | {"raw", "auto"} == set(downsample.RESOLUTIONS)
