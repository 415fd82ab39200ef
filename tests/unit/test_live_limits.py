"""Socket.IO's per-connection token bucket and payload bounds: pure, on a clock the test turns (no servers)."""

import pytest

from iotmon.service.live_limits import EventLimiter, Verdict
from iotmon.service.live_payloads import MAX_DEPTH, MAX_ITEMS, MAX_TEXT, refusal


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = EventLimiter(rate=10, burst=5, refused_before_disconnect=3, clock=clock)
    assert [limiter.take("a") for _ in range(6)] == [Verdict.ALLOWED] * 5 + [Verdict.REFUSED]
    clock.now += 0.1  # one token back
    assert [limiter.take("a"), limiter.take("a")] == [Verdict.ALLOWED, Verdict.REFUSED]
    assert limiter.take("b") is Verdict.ALLOWED  # each connection has its own bucket


def test_going_on_while_refused_is_flooding_and_a_pause_forgives() -> None:
    clock = Clock()
    limiter = EventLimiter(rate=10, burst=5, refused_before_disconnect=3, clock=clock)
    for _ in range(5):
        limiter.take("a")
    assert [limiter.take("a") for _ in range(3)] == [Verdict.REFUSED] * 3
    clock.now += 0.5  # the bucket is full again: the refusals are forgiven
    assert [limiter.take("a") for _ in range(5)] == [Verdict.ALLOWED] * 5
    assert [limiter.take("a") for _ in range(4)] == [Verdict.REFUSED] * 3 + [Verdict.FLOODING]


def test_a_connection_is_forgotten() -> None:
    limiter = EventLimiter()
    limiter.take("a")
    assert "a" in limiter
    limiter.forget("a")
    limiter.forget("never-seen")
    assert "a" not in limiter


def _deep(depth: int) -> object:
    return 1 if depth == 0 else [_deep(depth - 1)]


@pytest.mark.parametrize(
    "arguments",
    [(), (None,), ("device-001",), ({"deviceId": "device-001"},), ({"since": 12, "lastAlertId": "alert-007"},),
     ("x" * MAX_TEXT,), (_deep(MAX_DEPTH),), (list(range(MAX_ITEMS)),), ("Gerät 7 – Öfen",)],
)  # fmt: skip
def test_small_payloads_pass(arguments: tuple[object, ...]) -> None:
    assert refusal(arguments) is None


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        (("a", "b"), "at most 1 argument"),
        (("x" * (MAX_TEXT + 1),), "longer than"),
        (("\x00",), "control characters"),
        (("device-001\n",), "control characters"),
        (({"deviceId\t": 1},), "control characters"),
        (("\u009b",), "control characters"),
        ((_deep(MAX_DEPTH + 1),), "nested deeper"),
        ((list(range(MAX_ITEMS + 1)),), "more than"),
        ((b"bytes",), "not a payload"),
    ],
)
def test_other_payloads_are_refused_with_a_reason(arguments: tuple[object, ...], why: str) -> None:
    assert why in (refusal(arguments) or "")
