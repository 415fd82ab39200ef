"""The token bucket that bounds work a second (aggregate's medians)."""

from iotmon.core.budget import Budget


def test_a_burst_then_the_rate():
    budget = Budget(rate=2.0, burst=5.0)
    assert budget.allow(10, now=0.0) == 5  # what was saved up
    assert budget.allow(10, now=0.0) == 0
    assert budget.allow(10, now=1.0) == 2  # two a second
    assert budget.allow(1, now=1.5) == 1
    assert budget.allow(10, now=100.0) == 5  # never more than the burst saved


def test_unused_allowance_is_kept():
    budget = Budget(rate=1.0, burst=3.0)
    assert budget.allow(1, now=0.0) == 1
    assert budget.allow(5, now=0.0) == 2
