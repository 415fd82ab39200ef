"""A device's status as the API shows it (pure): the configured one unless active; active only while it sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from iotmon.core.devices import device_status

NOW = datetime(2026, 1, 11, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("configured", ["inactive", "maintenance", "error"])
def test_a_status_other_than_active_is_shown_as_configured_whatever_it_sends(configured):
    assert device_status(configured, NOW - timedelta(seconds=1), 30, NOW) == configured
    assert device_status(configured, None, 30, NOW) == configured
    assert device_status(configured, NOW - timedelta(days=3), 30, NOW) == configured


def test_an_active_device_that_never_sent_is_offline():
    assert device_status("active", None, 30, NOW) == "offline"


@pytest.mark.parametrize(
    ("silent_s", "status"),
    [
        (0, "active"),
        (29.999, "active"),
        (30, "active"),  # at the timeout: not yet offline
        (30.001, "offline"),
        (3600, "offline"),
    ],
)
def test_an_active_device_is_offline_once_silent_for_longer_than_its_timeout(silent_s, status):
    assert device_status("active", NOW - timedelta(seconds=silent_s), 30, NOW) == status


def test_the_timeout_is_the_devices_own():
    last = NOW - timedelta(seconds=90)
    assert device_status("active", last, 30, NOW) == "offline"
    assert device_status("active", last, 120, NOW) == "active"
    assert device_status("active", NOW - timedelta(seconds=0.5), 0.25, NOW) == "offline"  # fractions count


def test_a_reading_stamped_ahead_of_now_counts_as_recent():
    assert device_status("active", NOW + timedelta(seconds=5), 30, NOW) == "active"


def test_times_in_other_zones_compare_as_instants():
    last = (NOW - timedelta(seconds=10)).astimezone(timezone(timedelta(hours=9)))
    assert device_status("active", last, 30, NOW) == "active"
