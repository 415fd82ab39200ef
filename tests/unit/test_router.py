"""The local router: delivery, retries with backoff, dead letters, commits and pings.

Runs on the in-process transport; the functions are small recorders written here.
"""

import threading
import time

import msgspec
import pytest

from eventing.binding import decode
from eventing.events import PING, make_event
from eventing.memory import MemoryTransport
from eventing.router import Router
from eventing.wiring import Delivery, KafkaSubscription, PingSchedule, Wiring
from tests.support.waiting import wait_for

DLQ = "in.dlq"
SUBSCRIPTION = KafkaSubscription("src", ("in",), "group", "fn", Delivery(retry=2, backoff_delay=0.01, dead_letter_topic=DLQ))


def wiring(*schedules: PingSchedule) -> Wiring:
    return Wiring((SUBSCRIPTION,), schedules)



def dead_letters(transport):
    return [decode(r.headers, r.key, r.value) for r in transport.records(DLQ)]


def test_routes_to_a_missing_function_are_refused():
    with pytest.raises(ValueError, match="not running"):
        Router(MemoryTransport(), wiring(), {})


def test_events_are_delivered_in_batches_and_committed():
    transport, seen = MemoryTransport(), []
    router = Router(transport, wiring(), {"fn": seen.extend}).start()
    try:
        transport.publish("in", [make_event("t", "/s", {"n": n}, key="k") for n in range(20)])
        wait_for(lambda: len(seen) == 20)
        wait_for(lambda: transport.records("in") == [])  # committed, so dropped
    finally:
        router.stop()
    assert [msgspec.json.decode(e.get_data())["n"] for e in seen] == list(range(20))


def test_a_transient_failure_is_retried_with_backoff():
    transport, calls = MemoryTransport(), []

    def flaky(events):
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError("database restarting")

    router = Router(transport, wiring(), {"fn": flaky}).start()
    try:
        transport.publish("in", [make_event("t", "/s", {}, key="k")])
        wait_for(lambda: len(calls) == 3)
    finally:
        router.stop()
    assert calls[2] - calls[1] >= 0.04 - 0.005  # exponential: 0.01 * 2**2
    assert dead_letters(transport) == []
    assert router.counts["retried"] == 2


def test_a_poison_event_is_dead_lettered_alone_with_the_reason():
    transport, stored = MemoryTransport(), []

    def picky(events):
        if any(msgspec.json.decode(e.get_data())["n"] == 3 for e in events):
            raise ValueError("cannot handle 3")
        stored.extend(events)

    router = Router(transport, wiring(), {"fn": picky}).start()
    try:
        transport.publish("in", [make_event("t", "/s", {"n": n}, key="k") for n in range(6)])
        wait_for(lambda: len(dead_letters(transport)) == 1 and transport.records("in") == [])
    finally:
        router.stop()
    assert sorted(msgspec.json.decode(e.get_data())["n"] for e in stored) == [0, 1, 2, 4, 5]
    letter = dead_letters(transport)[0]
    assert msgspec.json.decode(letter.get_data()) == {"n": 3}
    assert letter["knativeerrordest"] == "fn"
    assert letter["knativeerrorcode"] == "500"
    assert "cannot handle 3" in letter["knativeerrordata"]


def test_a_record_that_is_not_a_cloudevent_is_dead_lettered():
    transport = MemoryTransport()
    router = Router(transport, wiring(), {"fn": lambda events: None})
    from eventing.transport import Record

    router.deliver_records(SUBSCRIPTION, [Record("in", 0, 0, b"k", (), b"garbage")])
    letter = dead_letters(transport)[0]
    data = msgspec.json.decode(letter.get_data())
    assert data["original"] == "garbage" and "not a binary-mode CloudEvent" in data["reason"]


def test_stopping_during_backoff_leaves_the_batch_uncommitted():
    transport, calls = MemoryTransport(), []

    def failing(events):
        calls.append(1)
        raise ConnectionError("down")

    slow = KafkaSubscription("src", ("in",), "group", "fn", Delivery(retry=5, backoff_delay=10, dead_letter_topic=DLQ))
    router = Router(transport, Wiring((slow,), ()), {"fn": failing}).start()
    transport.publish("in", [make_event("t", "/s", {}, key="k")])
    wait_for(lambda: calls)
    started = time.monotonic()
    router.stop()
    assert time.monotonic() - started < 2
    assert len(transport.records("in")) == 1 and dead_letters(transport) == []


def test_ping_sources_fire_on_their_tick():
    transport, pings, fired = MemoryTransport(), [], threading.Event()

    def cron(events):
        pings.extend(events)
        if len(pings) >= 2:
            fired.set()

    schedule = PingSchedule("every-minute", "* * * * *", "cron", data='{"job": "escalate"}')
    router = Router(transport, Wiring((), (schedule,)), {"cron": cron}, tick_seconds=0.05).start()
    try:
        assert fired.wait(5)
    finally:
        router.stop()
    assert pings[0]["type"] == PING
    assert pings[0]["source"].endswith("/pingsources/every-minute")
    assert pings[0].get_data() == '{"job": "escalate"}'
