from iotmon.core.login_throttle import MAX_WAIT_S, PER_USERNAME, retry_after


def test_the_first_failures_are_free_then_the_wait_doubles_up_to_a_cap():
    waits = [PER_USERNAME.wait_s(n) for n in range(4, 9)]
    assert waits == [0, 1, 2, 4, 8]
    assert PER_USERNAME.wait_s(100) == MAX_WAIT_S


def test_retry_after_counts_from_the_last_failure():
    assert retry_after(7, last_failure=100.0, now=101.5, schedule=PER_USERNAME) == 3
    assert retry_after(7, last_failure=100.0, now=105.0, schedule=PER_USERNAME) == 0
