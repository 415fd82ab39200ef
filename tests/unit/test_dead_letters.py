"""Dead letters as the router writes them: read, summed up, and replayed to the topic they came from.

Runs the real router on the in-process transport, wired like the manifests: one source on `in`, and two
functions reading `mid` (as aggregate and evaluate-rule read `metrics`), all dead-lettering to the
readings' dead-letter topic.
"""

import msgspec
import pytest

from eventing import dead_letters, topics
from eventing.binding import encode
from eventing.delivery import Rejected
from eventing.events import make_event, rejected_event
from eventing.memory import MemoryTransport
from eventing.router import Router
from eventing.transport import Record
from eventing.wiring import Delivery, KafkaSubscription, Wiring
from tests.support.waiting import wait_for

DLQ = topics.SENSORS_DATA_DLQ
DELIVERY = Delivery(retry=1, backoff_delay=0.01, dead_letter_topic=DLQ)
WIRING = Wiring(
    (
        KafkaSubscription("a-in", ("in",), "a", "fn-a", DELIVERY),
        KafkaSubscription("b-mid", ("mid",), "b", "fn-b", DELIVERY),
        KafkaSubscription("c-mid", ("mid",), "c", "fn-c", DELIVERY),
    ),
    (),
)


class Functions:
    """fn-a fails (an outage) until `healthy`; fn-b refuses n == 1 until `fixed`; fn-c takes anything."""

    def __init__(self) -> None:
        self.healthy = self.fixed = False
        self.seen: dict[str, list] = {"fn-a": [], "fn-b": [], "fn-c": []}

    def a(self, events):
        if not self.healthy:
            raise ConnectionError("database down")
        self.seen["fn-a"] += events

    def b(self, events):
        if not self.fixed and any(msgspec.json.decode(e.get_data())["n"] == 1 for e in events):
            raise Rejected("n must not be 1")
        self.seen["fn-b"] += events

    def c(self, events):
        self.seen["fn-c"] += events


@pytest.fixture
def system():
    transport, functions = MemoryTransport(), Functions()
    router = Router(transport, WIRING, {"fn-a": functions.a, "fn-b": functions.b, "fn-c": functions.c}).start()
    yield transport, functions
    router.stop()


def test_letters_are_read_with_their_kind_and_reason(system):
    transport, _functions = system
    transport.publish("in", [make_event("t", "/s", {"n": 0}, key="k")])
    transport.publish("mid", [make_event("t", "/s", {"n": 1}, key="k")])
    transport.publish(DLQ, [rejected_event("value must be a number", {"value": "x"}, None)])
    wait_for(lambda: transport.pending(DLQ, dead_letters.REPLAY_GROUP, 0)[0] == 3, what="three dead letters")
    summary = dead_letters.summary(transport)
    assert summary.waiting == 3
    assert {(g.kind, g.reason) for g in summary.groups} == {
        ("unavailable", "HTTP 500: ConnectionError: database down"),
        ("refused", "HTTP 400: n must not be 1"),
        ("rejected", "value must be a number"),
    }


def test_a_replay_sends_what_failed_in_an_outage_back_to_its_topic_and_sets_the_rest_aside(system):
    transport, functions = system
    transport.publish("in", [make_event("t", "/s", {"n": 0}, key="k", event_id="outage")])
    transport.publish("mid", [make_event("t", "/s", {"n": 1}, key="k", event_id="refused")])
    transport.publish(DLQ, [rejected_event("value must be a number", {"value": "x"}, None)])
    wait_for(lambda: transport.pending(DLQ, dead_letters.REPLAY_GROUP, 0)[0] == 3, what="three dead letters")
    functions.healthy = True  # the outage is over

    replayed = dead_letters.replay(transport, dead_letters.Origins(WIRING))

    assert replayed.sent == {"in": 1}
    assert sorted(letter.kind for letter in replayed.kept) == ["refused", "rejected"]
    wait_for(lambda: functions.seen["fn-a"], what="the replayed event delivered")
    [again] = functions.seen["fn-a"]
    assert again["id"] == "outage"  # the same event: idempotent functions spot a second delivery
    assert not [name for name in again.get_attributes() if name.startswith(("knativeerror", "iotmonerror"))]
    assert transport.pending(DLQ, dead_letters.REPLAY_GROUP, 0)[0] == 0
    assert dead_letters.replay(transport, dead_letters.Origins(WIRING)).sent == {}  # nothing twice


def test_all_also_replays_refused_events_to_the_topic_of_the_function_that_refused(system):
    transport, functions = system
    transport.publish("mid", [make_event("t", "/s", {"n": 1}, key="k", event_id="refused")])
    wait_for(lambda: transport.pending(DLQ, dead_letters.REPLAY_GROUP, 0)[0] == 1, what="a dead letter")
    functions.fixed = True

    replayed = dead_letters.replay(transport, dead_letters.Origins(WIRING), refused_too=True)

    assert replayed.sent == {"mid": 1} and replayed.kept == []
    wait_for(lambda: [e["id"] for e in functions.seen["fn-b"]] == ["refused"], what="fn-b to take it")


@pytest.mark.parametrize(
    ("destination", "urls", "topic"),
    [
        ("fn-b", {}, "mid"),  # the embedded run: in process, by name
        ("http://fn-c.iot-monitoring.svc.cluster.local", {}, "mid"),  # Knative
        ("http://127.0.0.1:8083/", {"http://127.0.0.1:8083": "fn-b"}, "mid"),  # the local router's ports
        ("http://127.0.0.1:9999", {}, None),  # nobody knows: set aside, not guessed
    ],
)
def test_the_origin_is_told_by_where_the_event_was_going(destination, urls, topic):
    event = make_event("t", "/s", {}, key="k")
    event["knativeerrordest"], event["knativeerrorcode"] = destination, "503"
    message = encode(event)
    record = Record(DLQ, 0, 0, message.key, tuple(message.headers.items()), message.value)
    assert dead_letters.Origins(WIRING, urls)(dead_letters.read(record)) == topic


def test_a_record_with_broken_cloudevent_attributes_is_an_invalid_letter_never_replayed():
    transport = MemoryTransport()
    router = Router(transport, WIRING, {"fn-a": list, "fn-b": list, "fn-c": list})
    broken = Record("in", 0, 0, b"k", (("ce_specversion", b"2.0"), ("ce_id", b"1")), b"{}")
    router.deliver_records(WIRING.subscriptions[0], [broken])
    [letter] = dead_letters.waiting(transport)[1]
    assert (letter.kind, letter.reason) == ("invalid", "invalid CloudEvent: specversion '2.0' is not 1.0")
    assert dead_letters.replay(transport, dead_letters.Origins(WIRING), refused_too=True).sent == {}
