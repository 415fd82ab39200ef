"""The router delivering over HTTP, as Knative's KafkaSource and PingSource do.

A small HTTP receiver on loopback plays the function and answers as each test
scripts it; the router runs on the in-process transport. Covered: binary
content mode, retries with backoff on 5xx/429/404/409 and on no answer
(refused connection, timeout), dead letters with Knative's extensions, no
retry for other 4xx, per-partition order, concurrency, ping ticks, and the
URL convention that says where each function listens.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest

from eventing.binding import decode, encode
from eventing.endpoints import cluster_url, function_urls
from eventing.events import PING, make_event
from eventing.http_sink import OverHttp
from eventing.memory import MemoryTransport
from eventing.router import Router
from eventing.transport import Record, partition_for
from eventing.wiring import Delivery, KafkaSubscription, PingSchedule, Wiring
from iotmon.adapters.settings import Settings
from tests.support.kafka_broker import free_port
from tests.support.waiting import wait_for

DLQ = "in.dlq"
DELIVERY = Delivery(retry=3, backoff_delay=0.01, dead_letter_topic=DLQ, timeout=2.0)
SUBSCRIPTION = KafkaSubscription("src", ("in",), "group", "fn", DELIVERY)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


Answer = tuple[int, bytes] | Callable[[Received], tuple[int, bytes]]


@dataclass
class Receiver:
    """Answers each request with the next scripted answer (the last one repeats); records what came."""

    answers: list[Answer] = field(default_factory=lambda: [(200, b"")])
    requests: list[Received] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> tuple[int, bytes]:
        with self.lock:
            self.requests.append(request)
            scripted = self.answers[min(len(self.requests), len(self.answers)) - 1]
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return scripted(request) if callable(scripted) else scripted
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, reply = state.answer(
                Received({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            )
            try:
                self.send_response(status)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the router gave up waiting (its timeout) and closed the connection

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def router_to() -> Iterator[Callable[..., tuple[Router, MemoryTransport]]]:
    """A router delivering the subscription to `url` over HTTP, on the in-process transport; stopped after the test."""
    made: list[Router] = []

    def make(url: str, subscription: KafkaSubscription = SUBSCRIPTION) -> tuple[Router, MemoryTransport]:
        transport = MemoryTransport()
        made.append(Router(transport, Wiring((subscription,), ()), {"fn": OverHttp("fn", url)}))
        return made[-1], transport

    yield make
    for router in made:
        router.stop()


def records(events, partition: int = 0) -> list[Record]:
    return [
        Record("in", partition, n, m.key, tuple(m.headers.items()), m.value) for n, m in enumerate(map(encode, events))
    ]


def dead_letters(transport: MemoryTransport) -> list:
    return [decode(r.headers, r.key, r.value) for r in transport.records(DLQ)]


def event(n: int = 0, key: str = "device-001"):
    return make_event("io.iotmon.reading.v1", "/iotmon/simulator", {"n": n}, key=key, subject=key)


def numbers(requests: list[Received]) -> list[int]:
    return [msgspec.json.decode(r.body)["n"] for r in requests]


def test_each_event_is_posted_alone_in_binary_mode(receiver, router_to):
    router, transport = router_to(receiver.url)
    sent = [event(n) for n in range(3)]
    router.deliver_records(SUBSCRIPTION, records(sent))
    assert numbers(receiver.requests) == [0, 1, 2]
    first = receiver.requests[0]
    assert first.headers["ce-specversion"] == "1.0"
    assert first.headers["ce-type"] == "io.iotmon.reading.v1" and first.headers["ce-id"] == sent[0]["id"]
    assert first.headers["ce-source"] == "/iotmon/simulator" and first.headers["ce-subject"] == "device-001"
    assert first.headers["ce-partitionkey"] == "device-001"
    assert first.headers["content-type"] == "application/json"
    assert dead_letters(transport) == [] and router.counts["delivered"] == 3


def test_a_plain_record_is_posted_wrapped_as_a_kafka_source_does(receiver, router_to):
    router, _ = router_to(receiver.url)
    router.deliver_records(
        SUBSCRIPTION, [Record("in", 3, 41, b"device-001", (("content-type", b"application/json"),), b'{"n": 7}')]
    )
    [request] = receiver.requests
    assert request.headers["ce-type"] == "dev.knative.kafka.event"
    assert request.headers["ce-id"] == "partition:3/offset:41"
    assert request.headers["ce-subject"] == "partition:3#41"
    assert request.headers["ce-source"] == "/apis/v1/namespaces/iot-monitoring/kafkasources/src#in"
    assert request.headers["ce-key"] == request.headers["ce-partitionkey"] == "device-001"
    assert request.body == b'{"n": 7}'


@pytest.mark.parametrize("status", [503, 500, 429, 404, 409])
def test_an_answer_worth_retrying_is_retried_with_exponential_backoff(receiver, status, router_to):
    receiver.answers = [(status, b"busy"), (status, b"busy"), (200, b"")]
    router, transport = router_to(receiver.url)
    router.deliver_records(SUBSCRIPTION, records([event()]))
    assert len(receiver.requests) == 3 and dead_letters(transport) == []
    gaps = [b.at - a.at for a, b in itertools.pairwise(receiver.requests)]
    assert gaps[0] >= 0.02 * 0.9 and gaps[1] >= 0.04 * 0.9  # backoffDelay 0.01 s × 2^attempt
    assert router.counts["retried"] == 2 and router.counts["delivered"] == 1


def test_503_then_429_then_success(receiver, router_to):
    receiver.answers = [(503, b""), (429, b""), (202, b"")]
    router, transport = router_to(receiver.url)
    router.deliver_records(SUBSCRIPTION, records([event()]))
    assert len(receiver.requests) == 3 and dead_letters(transport) == []


@pytest.mark.parametrize("status", [400, 422, 301])
def test_an_event_the_function_refuses_is_dead_lettered_at_once(receiver, status, router_to):
    receiver.answers = [(status, b"unknown type 'x'")]
    router, transport = router_to(receiver.url)
    sent = event(5)
    router.deliver_records(SUBSCRIPTION, records([sent]))
    assert len(receiver.requests) == 1  # not retried
    [letter] = dead_letters(transport)
    assert letter["id"] == sent["id"] and msgspec.json.decode(letter.get_data()) == {"n": 5}
    assert letter["knativeerrordest"] == receiver.url
    assert letter["knativeerrorcode"] == str(status)
    assert base64.b64decode(letter["knativeerrordata"]) == b"unknown type 'x'"
    assert router.counts["retried"] == 0 and router.counts["dead_lettered"] == 1


def test_retries_run_out_then_the_event_is_dead_lettered_with_the_last_answer(receiver, router_to):
    receiver.answers = [(500, b"x" * 5000)]
    router, transport = router_to(receiver.url)
    router.deliver_records(SUBSCRIPTION, records([event()]))
    assert len(receiver.requests) == 1 + DELIVERY.retry
    [letter] = dead_letters(transport)
    assert letter["knativeerrorcode"] == "500"
    assert base64.b64decode(letter["knativeerrordata"]) == b"x" * 1024  # Knative keeps at most 1 KiB


def test_a_function_too_slow_for_the_timeout_is_retried_then_dead_lettered(receiver, router_to):
    answer = threading.Event()  # the function answers only once the test lets it

    def slow(_request: Received) -> tuple[int, bytes]:
        answer.wait(30)
        return 200, b""

    receiver.answers = [slow]
    quick = replace(SUBSCRIPTION, delivery=replace(DELIVERY, retry=1, timeout=0.1))
    router, transport = router_to(receiver.url, quick)
    try:
        router.deliver_records(quick, records([event()]))  # returns: each try gave up on its own timeout
    finally:
        answered_before = answer.is_set()
        answer.set()
    assert not answered_before
    assert len(receiver.requests) == 2
    [letter] = dead_letters(transport)
    assert letter["knativeerrordest"] == receiver.url
    assert letter.get("knativeerrorcode") is None and letter.get("knativeerrordata") is None  # no answer came


def test_a_function_that_is_not_listening_is_retried_then_dead_lettered(router_to):
    url = f"http://127.0.0.1:{free_port()}"
    router, transport = router_to(url)
    router.deliver_records(SUBSCRIPTION, records([event()]))
    assert router.counts["retried"] == DELIVERY.retry
    [letter] = dead_letters(transport)
    assert letter["knativeerrordest"] == url and letter.get("knativeerrorcode") is None


def in_flight_together(receiver: Receiver, count: int, patience: float = 1.5) -> Callable[[], None]:
    """For a scripted answer: hold each request until `count` are in flight at once (then none is held), or
    until `patience` runs out (under the delivery timeout): the test sees concurrency without sleeping."""
    together = threading.Event()

    def hold() -> None:
        with receiver.lock:
            reached = receiver.in_flight >= count
        if reached or not together.wait(patience):
            together.set()  # reached, or never will be: the assertion on most_in_flight says which

    return hold


def test_ordered_delivery_keeps_each_partition_in_order_and_runs_partitions_side_by_side(receiver, router_to):
    failed_once: set[int] = set()
    both_partitions = in_flight_together(receiver, 2)

    def answer(request: Received) -> tuple[int, bytes]:
        both_partitions()
        n = msgspec.json.decode(request.body)["n"]
        if n in (3, 13) and n not in failed_once:
            failed_once.add(n)
            return 503, b""
        return 200, b""

    receiver.answers = [answer]
    router, _ = router_to(receiver.url)
    batch = records([event(n) for n in range(10)], partition=0) + records(
        [event(n) for n in range(10, 20)], partition=1
    )
    router.deliver_records(SUBSCRIPTION, batch)
    sent = numbers(receiver.requests)
    # The retry of 3 (13) comes before anything after it in its partition.
    assert [n for n in sent if n < 10] == [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9]
    assert [n for n in sent if n >= 10] == [10, 11, 12, 13, 13, 14, 15, 16, 17, 18, 19]
    assert receiver.most_in_flight == 2  # one request per partition at a time, both partitions at once


def test_a_partition_waiting_for_an_answer_holds_up_only_itself(receiver, router_to):
    """Ordered, as Knative's dispatcher: partitions go independently, each committed as its events are handled
    (not after a whole poll, which would make every partition wait for the slowest)."""
    release = threading.Event()
    slow_key, fast_key = "device-001", "device-002"
    assert partition_for(b"device-001", 4, iter(())) != partition_for(b"device-002", 4, iter(()))

    def answer(request: Received) -> tuple[int, bytes]:
        if msgspec.json.decode(request.body)["n"] == 0:
            release.wait(10)  # the slow partition's first event waits for the test
        return 200, b""

    receiver.answers = [answer]
    router, transport = router_to(receiver.url)
    router.start()
    transport.publish("in", [event(0, slow_key), event(1, slow_key)])
    wait_for(lambda: receiver.in_flight == 1)
    transport.publish("in", [event(n, fast_key) for n in range(10, 30)])
    # The other partition's events are all handled and committed while the slow one still waits.
    wait_for(lambda: [r.key for r in transport.records("in")] == [slow_key.encode()] * 2)
    assert sorted(numbers(receiver.requests)) == [0, *range(10, 30)]
    release.set()
    wait_for(lambda: transport.records("in") == [])
    assert [n for n in numbers(receiver.requests) if n < 10] == [0, 1]


def test_unordered_delivery_sends_several_at_once(receiver, router_to):
    five = in_flight_together(receiver, 5)

    def slow(_request: Received) -> tuple[int, bytes]:
        five()
        return 200, b""

    receiver.answers = [slow]
    unordered = replace(SUBSCRIPTION, ordering="unordered")
    router, _ = router_to(receiver.url, unordered)
    router.deliver_records(unordered, records([event(n) for n in range(32)]))
    assert sorted(numbers(receiver.requests)) == list(range(32))
    assert receiver.most_in_flight > 4


def test_the_consumer_commits_after_delivery_over_http(receiver, router_to):
    router, transport = router_to(receiver.url)
    router.start()
    transport.publish("in", [event(n) for n in range(5)])
    wait_for(lambda: len(receiver.requests) == 5)
    wait_for(lambda: transport.records("in") == [])  # committed, so dropped


def test_stopping_during_backoff_leaves_the_event_uncommitted(receiver, router_to):
    receiver.answers = [(503, b"")]
    slow = replace(SUBSCRIPTION, delivery=replace(DELIVERY, retry=5, backoff_delay=10))
    router, transport = router_to(receiver.url, slow)
    router.start()
    transport.publish("in", [event()])
    wait_for(lambda: receiver.requests)
    started = time.monotonic()
    router.stop()
    assert time.monotonic() - started < 2
    assert len(transport.records("in")) == 1 and dead_letters(transport) == []


def test_ping_ticks_are_posted(receiver, router_to):
    schedule = PingSchedule("escalate-cron-tick", "* * * * *", "cron", data='{"job": "escalate"}')
    router = Router(
        MemoryTransport(), Wiring((), (schedule,)), {"cron": OverHttp("cron", receiver.url)}, tick_seconds=0.05
    )
    router.start()
    try:
        wait_for(lambda: len(receiver.requests) >= 2)
    finally:
        router.stop()
    tick = receiver.requests[0]
    assert tick.headers["ce-type"] == PING
    assert tick.headers["ce-source"] == "/apis/v1/namespaces/iot-monitoring/pingsources/escalate-cron-tick"
    assert tick.headers["content-type"] == "application/json"
    assert tick.body == b'{"job": "escalate"}'


# Where the router delivers (eventing.endpoints)


def test_function_urls_default_to_consecutive_local_ports():
    assert function_urls(["notify", "ingest"]) == {
        "ingest": "http://127.0.0.1:8081",
        "notify": "http://127.0.0.1:8085",
    }
    assert function_urls(["aggregate"], base_port=7000) == {"aggregate": "http://127.0.0.1:7001"}


def test_function_urls_from_the_settings_and_the_command_line_win_in_that_order():
    configured = Settings.from_env({"IOTMON_FUNCTION_URLS": "ingest=http://ingest:8080/, notify=http://notify:8080"})
    urls = function_urls(["ingest", "notify", "aggregate"], configured.function_urls, ["notify=http://127.0.0.1:9999"])
    assert urls == {
        "ingest": "http://ingest:8080",
        "notify": "http://127.0.0.1:9999",
        "aggregate": "http://127.0.0.1:8082",
    }


@pytest.mark.parametrize(
    ("configured", "overrides", "message"),
    [
        (["evaluate_rule=http://x:1"], [], "route nothing to"),
        ([], ["ingest"], "expected <service>=http"),
        ([], ["ingest=ftp://x"], "expected <service>=http"),
    ],
)
def test_bad_function_urls_are_refused(configured, overrides, message):
    with pytest.raises(ValueError, match=message):
        function_urls(["ingest", "evaluate-rule"], configured, overrides)


def test_a_function_outside_the_known_five_needs_its_url_given():
    with pytest.raises(ValueError, match="no default port"):
        function_urls(["resize-images"])
    assert function_urls(["resize-images"], overrides=["resize-images=http://r:80"]) == {"resize-images": "http://r:80"}


def test_in_a_cluster_a_service_sink_is_its_cluster_dns_name():
    assert cluster_url("evaluate-rule") == "http://evaluate-rule.iot-monitoring.svc.cluster.local"
