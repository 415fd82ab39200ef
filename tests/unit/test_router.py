"""The local router: delivery, retries with backoff, dead letters, commits and pings.

Runs on the in-process transport; the functions are small recorders written here.
"""

import base64
import dataclasses
import threading
import time
import zlib

import msgspec
import pytest

from eventing.binding import decode, encode
from eventing.delivery import Rejected
from eventing.events import PING, READING, make_event
from eventing.memory import MemoryTransport
from eventing.router import Router
from eventing.sources import unwrap
from eventing.transport import Record
from eventing.wiring import Delivery, KafkaSubscription, PingSchedule, Wiring
from tests.support.waiting import wait_for

DLQ = "in.dlq"
SUBSCRIPTION = KafkaSubscription(
    "src", ("in",), "group", "fn", Delivery(retry=2, backoff_delay=0.01, dead_letter_topic=DLQ)
)


def wiring(*schedules: PingSchedule) -> Wiring:
    return Wiring((SUBSCRIPTION,), schedules)


def dead_letters(transport):
    return [decode(r.headers, r.key, r.value) for r in transport.records(DLQ)]


def records(events):
    """The records the events make on topic `in`, partition 0."""
    return [Record("in", 0, n, m.key, tuple(m.headers.items()), m.value) for n, m in enumerate(map(encode, events))]


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
    assert base64.b64decode(letter["knativeerrordata"]) == b"ValueError: cannot handle 3"


def test_an_event_the_function_rejects_is_dead_lettered_at_once():
    transport, calls = MemoryTransport(), []

    def strict(events):
        calls.append(len(events))
        if any(msgspec.json.decode(e.get_data())["n"] == 1 for e in events):
            raise Rejected("n must not be 1")

    router = Router(transport, wiring(), {"fn": strict})
    router.deliver_records(SUBSCRIPTION, records([make_event("t", "/s", {"n": n}, key="k") for n in range(3)]))
    assert calls == [3, 1, 1, 1]  # the batch once (no retries), then each event alone, once
    [letter] = dead_letters(transport)
    assert msgspec.json.decode(letter.get_data()) == {"n": 1}
    assert letter["knativeerrorcode"] == "400"
    assert base64.b64decode(letter["knativeerrordata"]) == b"n must not be 1"
    assert router.counts["retried"] == 0


def test_a_plain_record_is_delivered_as_the_kafka_source_wraps_it():
    transport, seen = MemoryTransport(), []
    router = Router(transport, wiring(), {"fn": seen.extend})
    headers = (("content-type", b"application/json"), ("Trace-Id", b"abc"))
    router.deliver_records(SUBSCRIPTION, [Record("in", 2, 17, b"device-001", headers, b'{"deviceId": "device-001"}')])
    [event] = seen
    assert event["type"] == "dev.knative.kafka.event"
    assert event["source"] == "/apis/v1/namespaces/iot-monitoring/kafkasources/src#in"
    assert event["id"] == "partition:2/offset:17" and event["subject"] == "partition:2#17"
    assert event["partitionkey"] == event["key"] == "device-001"
    assert event["datacontenttype"] == "application/json" and event["kafkaheadertraceid"] == "abc"
    assert event.get_data() == b'{"deviceId": "device-001"}'
    assert unwrap(event)["type"] == READING


BROKEN_HEADERS = {
    "specversion 2.0": {"ce_specversion": b"2.0"},
    "no id": {"ce_id": None},
    "no source": {"ce_source": None},
    "an empty type": {"ce_type": b""},
    "a time that is no timestamp": {"ce_time": b"yesterday"},
    "ce_ headers without specversion": {"ce_specversion": None},
}


@pytest.mark.parametrize("broken", BROKEN_HEADERS.values(), ids=BROKEN_HEADERS.keys())
def test_a_record_with_broken_cloudevent_attributes_is_dead_lettered_with_the_reason(broken):
    transport, seen = MemoryTransport(), []
    router = Router(transport, wiring(), {"fn": seen.extend})
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"r-1",
        "ce_source": b"/gateway",
        "ce_type": b"io.iotmon.reading.v1",
        "ce_time": b"2026-01-01T00:00:00Z",
        "content-type": b"application/json",
    }
    headers = {name: value for name, value in {**headers, **broken}.items() if value is not None}
    reading = b'{"deviceId": "device-001", "timestamp": "2026-01-01T00:00:00Z", "value": 1}'
    good = records([make_event("t", "/s", {"n": 1}, key="k")])
    router.deliver_records(SUBSCRIPTION, [Record("in", 0, 0, b"device-001", tuple(headers.items()), reading), *good])
    assert [event["type"] for event in seen] == ["t"]  # the good one only: the broken one never reaches the function
    [letter] = dead_letters(transport)
    assert "invalid CloudEvent" in letter["iotmonerror"] and letter["knativeerrordest"] == "fn"
    assert letter.get_data() == reading  # the record as it came, to look into
    assert unwrap(letter) is letter  # never taken for a reading, even if sent again


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


def test_routers_sharing_the_wiring_split_the_members_and_only_the_first_fires_pings():
    """`iotmon up --workers 2`: router k of n runs the members m with m mod n = k, and the schedules if k = 0."""
    transport = MemoryTransport(partitions=4)
    subscription = dataclasses.replace(SUBSCRIPTION, consumers=2)
    schedule = PingSchedule("every-minute", "* * * * *", "cron", data="{}")
    seen: list[list] = [[], []]
    pinged: list[list] = [[], []]
    routers = [
        Router(
            transport,
            Wiring((subscription,), (schedule,)),
            {"fn": seen[k].extend, "cron": pinged[k].extend},
            tick_seconds=0.05,
            share=(k, 2),
        ).start()
        for k in range(2)
    ]
    try:
        keys = [f"device-{n}" for n in range(40)]
        transport.publish("in", [make_event("t", "/s", {"key": key}, key=key) for key in keys])
        wait_for(lambda: len(seen[0]) + len(seen[1]) == len(keys) and len(pinged[0]) >= 2)
    finally:
        for router in routers:
            router.stop()
    for k in range(2):  # member k of 2 reads partitions k and k + 2
        got = {msgspec.json.decode(event.get_data())["key"] for event in seen[k]}
        assert got == {key for key in keys if zlib.crc32(key.encode()) % 4 % 2 == k}
    assert pinged[1] == []


def test_a_share_outside_its_count_is_refused():
    with pytest.raises(ValueError, match="share 2/2"):
        Router(MemoryTransport(), wiring(), {"fn": print}, share=(2, 2))
