"""When aggregate recomputes an hourly rollup (pure): a past hour at once, the current one at most every
interval, and a skipped one once its hour is over, so every hour ends up final."""

from __future__ import annotations

from iotmon.core.budget import Budget
from iotmon.core.rollups import RollupSchedule

HOUR = 490_000  # an hour number since the epoch
A, B = "device-001", "device-002"


def test_the_first_batch_of_the_current_hour_is_rolled_up_at_once():
    schedule = RollupSchedule(interval_s=10)
    assert schedule.due([(A, HOUR), (B, HOUR)], current_hour=HOUR, now=100.0) == [(A, HOUR), (B, HOUR)]


def test_the_current_hour_waits_for_the_interval_per_device():
    schedule = RollupSchedule(interval_s=10)
    schedule.due([(A, HOUR)], HOUR, now=100.0)
    assert schedule.due([(A, HOUR), (B, HOUR)], HOUR, now=105.0) == [(B, HOUR)]  # A was done 5 s ago
    assert schedule.due([(A, HOUR)], HOUR, now=109.99) == []
    assert schedule.due([(A, HOUR)], HOUR, now=110.0) == [(A, HOUR)]  # the interval is over: again
    assert schedule.due([(A, HOUR)], HOUR, now=111.0) == []


def test_a_skipped_current_hour_is_rolled_up_once_that_hour_is_over():
    schedule = RollupSchedule(interval_s=10)
    schedule.due([(A, HOUR)], HOUR, now=100.0)
    assert schedule.due([(A, HOUR)], HOUR, now=101.0) == []  # skipped: remembered
    # The next batch is in the next hour and touches only B: A's last hour is made final now.
    assert schedule.due([(B, HOUR + 1)], HOUR + 1, now=102.0) == [(A, HOUR), (B, HOUR + 1)]
    assert schedule.due([(B, HOUR + 1)], HOUR + 1, now=200.0) == [(B, HOUR + 1)]  # A not again: it is done


def test_a_pending_hour_still_current_stays_pending():
    schedule = RollupSchedule(interval_s=10)
    schedule.due([(A, HOUR)], HOUR, now=100.0)
    schedule.due([(A, HOUR)], HOUR, now=101.0)
    assert schedule.due([(B, HOUR)], HOUR, now=102.0) == [(B, HOUR)]  # A's hour is not over yet
    assert schedule.due([], HOUR + 1, now=103.0) == [(A, HOUR)]


def test_a_past_hour_is_rolled_up_every_time_it_is_touched():
    # Late readings change a finished hour: its rollup is recomputed at once, however recently it was.
    schedule = RollupSchedule(interval_s=3600)
    assert schedule.due([(A, HOUR - 3)], HOUR, now=100.0) == [(A, HOUR - 3)]
    assert schedule.due([(A, HOUR - 3)], HOUR, now=100.5) == [(A, HOUR - 3)]
    assert schedule.due([(A, HOUR - 1), (A, HOUR)], HOUR, now=101.0) == [(A, HOUR - 1), (A, HOUR)]


def test_due_pairs_are_sorted_and_each_listed_once():
    schedule = RollupSchedule(interval_s=10)
    touched = [(B, HOUR), (A, HOUR), (B, HOUR - 1), (A, HOUR), (B, HOUR)]
    assert schedule.due(touched, HOUR, now=0.0) == [(A, HOUR), (B, HOUR - 1), (B, HOUR)]


def test_no_interval_means_every_batch():
    schedule = RollupSchedule(interval_s=0)
    for now in (0.0, 0.0, 0.1):
        assert schedule.due([(A, HOUR)], HOUR, now) == [(A, HOUR)]
    assert schedule.due([], HOUR, now=1.0) == []


def test_what_was_done_hours_ago_is_forgotten_and_a_new_hour_starts_afresh():
    schedule = RollupSchedule(interval_s=10)
    schedule.due([(A, HOUR)], HOUR, now=100.0)
    later = HOUR + 5
    assert schedule.due([(A, later)], later, now=101.0) == [(A, later)]  # another hour: not held back by HOUR's
    assert schedule.due([(A, later)], later, now=102.0) == []


def test_a_budget_holds_back_current_hours_finished_hours_first_then_never_done_then_stalest():
    schedule = RollupSchedule(interval_s=10, budget=Budget(rate=1.0, burst=2.0))
    c = "device-003"
    assert schedule.due([(A, HOUR)], HOUR, now=0.0) == [(A, HOUR)]
    assert schedule.due([(B, HOUR)], HOUR, now=5.0) == [(B, HOUR)]
    everyone = [(A, HOUR), (B, HOUR), (c, HOUR)]
    assert schedule.due(everyone, HOUR, now=11.0) == [(A, HOUR), (c, HOUR)]  # c never done, A the stalest
    assert schedule.due(everyone, HOUR, now=11.5) == []  # B is due, but the budget is spent
    # The hour is over: the hours held back are made final before the new hour's, within the budget.
    assert schedule.due([(A, HOUR + 1)], HOUR + 1, now=12.0) == [(A, HOUR)]
    assert schedule.due([(A, HOUR + 1)], HOUR + 1, now=15.0) == [(B, HOUR), (c, HOUR)]
    assert schedule.due([(A, HOUR + 1)], HOUR + 1, now=16.0) == [(A, HOUR + 1)]


def test_a_late_readings_past_hour_goes_at_once_whatever_the_budget():
    schedule = RollupSchedule(interval_s=10, budget=Budget(rate=1.0, burst=0.0))
    assert schedule.due([(A, HOUR - 3)], HOUR, now=0.0) == [(A, HOUR - 3)]
