"""Dead letters: what each one is, why it failed, and whether replaying it can help.

A dead letter is the event a source gave up on, with Knative's extensions
saying why (`knativeerrordest`, `knativeerrorcode`, `knativeerrordata`), or
one of this system's reports: a reading ingest refused
(`io.iotmon.reading.rejected.v1`) or a record with broken CloudEvent
attributes (`iotmonerror`). Only an event that failed for a passing reason
(no answer, 5xx: an outage that outlasted the retries) is worth sending again;
one a function refused (another 4xx) may be, after a fix (`--all`); a report
never is: it describes bad input, not an event to handle.

Replaying republishes the original event, stripped of the dead-letter
extensions, to the topic its source reads. The functions are idempotent, so a
letter replayed twice, or a `metrics` event seen again by the function that
had handled it, changes nothing.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cloudevents.http import CloudEvent

from eventing import topics
from eventing.binding import decode, json_data
from eventing.delivery import retryable_status
from eventing.events import READING_REJECTED
from eventing.transport import Record, Transport
from eventing.wiring import Wiring
from iotmon.core.contracts.system import DeadLetterGroup, DeadLetterKind, DeadLetters

REPLAY_GROUP = "iotmon-dlq-replay"  # its offsets mark the letters already replayed (or set aside)
SUMMARY_LIMIT = 1000  # letters per topic read to tell the reasons; the count covers them all
_EXTENSIONS = ("knativeerrordest", "knativeerrorcode", "knativeerrordata", "iotmonerror")
_MAX_REASON = 200
_SHORT_REASON = 80


@dataclass(frozen=True)
class DeadLetter:
    record: Record
    event: CloudEvent | None  # None: the record is no valid CloudEvent at all (written by another tool?)
    kind: DeadLetterKind
    reason: str


def read(record: Record) -> DeadLetter:
    """The dead letter in `record`: what kind it is and why it failed."""
    try:
        event = decode(record.headers, record.key, record.value)
    except ValueError as error:
        return DeadLetter(record, None, "invalid", str(error)[:_MAX_REASON])
    if event["type"] == READING_REJECTED:  # (it carries its reason in iotmonerror too)
        return DeadLetter(record, event, "rejected", _rejection(event))
    if "iotmonerror" in event:
        return DeadLetter(record, event, "invalid", str(event["iotmonerror"])[:_MAX_REASON])
    code = event.get("knativeerrorcode")
    if code is None:
        return DeadLetter(record, event, "unavailable", "no answer through every retry")
    answer = _answer(event)
    reason = (f"HTTP {code}" + (f": {answer}" if answer else ""))[:_MAX_REASON]
    refused = str(code).isdigit() and not retryable_status(int(code))
    return DeadLetter(record, event, "refused" if refused else "unavailable", reason)


def _rejection(event: CloudEvent) -> str:
    try:
        return str(json_data(event).get("reason", "rejected"))[:_MAX_REASON]
    except (ValueError, AttributeError):
        return "rejected"


def _answer(event: CloudEvent) -> str:
    """The first line of the function's answer (knativeerrordata), as text."""
    try:
        text = base64.b64decode(str(event.get("knativeerrordata") or "")).decode("utf-8", "replace").strip()
    except ValueError:
        return ""
    return text.splitlines()[0] if text else ""


@dataclass(frozen=True)
class Origins:
    """The topic each letter's source read, so a replay sends the event back where it came from.

    `destinations`: {url: function} for sources delivering to URLs the wiring does not name (the local
    router's ports); Knative's cluster URLs and the embedded run's function names are recognised as they are."""

    wiring: Wiring
    destinations: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, letter: DeadLetter) -> str | None:
        sources = [s for s in self.wiring.subscriptions if s.delivery.dead_letter_topic == letter.record.topic]
        if len(read_topics := {topic for s in sources for topic in s.topics}) == 1:
            return read_topics.pop()
        destination = str(letter.event.get("knativeerrordest") or "") if letter.event is not None else ""
        function = self._function(destination.rstrip("/"), {s.function for s in sources})
        read_topics = {topic for s in sources if s.function == function for topic in s.topics}
        return read_topics.pop() if len(read_topics) == 1 else None

    def _function(self, destination: str, functions: set[str]) -> str | None:
        if destination in functions:  # the embedded run delivers in process, by name
            return destination
        if (function := self.destinations.get(destination)) is not None:
            return function
        service = (urlsplit(destination).hostname or "").split(".")[0]  # http://<service>.<namespace>.svc…
        return service if service in functions else None


def original(event: CloudEvent) -> CloudEvent:
    """The event as its source first delivered it: the dead-letter extensions removed."""
    attributes = {name: value for name, value in event.get_attributes().items() if name not in _EXTENSIONS}
    return CloudEvent(attributes, event.get_data())


def plan(
    letters: Iterable[DeadLetter], origin_of: Callable[[DeadLetter], str | None], refused_too: bool = False
) -> tuple[dict[str, list[CloudEvent]], list[DeadLetter]]:
    """What a replay sends, by topic, and the letters it sets aside."""
    wanted = ("unavailable", "refused") if refused_too else ("unavailable",)
    send: dict[str, list[CloudEvent]] = {}
    kept: list[DeadLetter] = []
    for letter in letters:
        origin = origin_of(letter) if letter.kind in wanted and letter.event is not None else None
        if origin is not None and letter.event is not None:
            send.setdefault(origin, []).append(original(letter.event))
        else:
            kept.append(letter)
    return send, kept


def grouped(letters: Iterable[DeadLetter]) -> list[DeadLetterGroup]:
    """By topic, kind and reason (cut short: a rejection names its value), most first."""
    counts = Counter((letter.record.topic, letter.kind, _short(letter.reason)) for letter in letters)
    return [
        DeadLetterGroup(topic=topic, kind=kind, reason=reason, count=count)
        for (topic, kind, reason), count in counts.most_common()
    ]


def _short(reason: str) -> str:
    return reason if len(reason) <= _SHORT_REASON else reason[: _SHORT_REASON - 1] + "…"


# On a transport


def waiting(transport: Transport, limit: int = SUMMARY_LIMIT) -> tuple[int, list[DeadLetter]]:
    """How many letters no replay has handled yet, on every dead-letter topic, and the oldest `limit` of each."""
    count, letters = 0, []
    for topic in topics.DEAD_LETTER:
        found, records = transport.pending(topic, REPLAY_GROUP, limit)
        count += found
        letters += [read(record) for record in records]
    return count, letters


def summary(transport: Transport) -> DeadLetters:
    count, letters = waiting(transport)
    return DeadLetters(waiting=count, groups=grouped(letters))


@dataclass
class Replayed:
    sent: Counter[str] = field(default_factory=Counter)  # events, by the topic they went back to
    kept: list[DeadLetter] = field(default_factory=list)  # set aside: reports, refusals, unknown origins


def replay(
    transport: Transport,
    origin_of: Callable[[DeadLetter], str | None],
    refused_too: bool = False,
    batch: int = 500,
    progress: Callable[[str, int, int], None] = lambda topic, done, total: None,
) -> Replayed:
    """Send every waiting letter worth it back to its topic, and move the replay group past all of them.

    Each batch is published before its letters are committed: a replay cut short sends some again next
    time, which the functions' idempotency absorbs, and never skips one."""
    replayed = Replayed()
    for topic in topics.DEAD_LETTER:
        total, _ = transport.pending(topic, REPLAY_GROUP, 0)
        if not total:
            continue
        consumer = transport.consumer(topic, REPLAY_GROUP)
        try:
            done = 0
            while done < total and (records := consumer.poll(batch, 10.0)):
                send, kept = plan(map(read, records), origin_of, refused_too)
                for origin, events in send.items():
                    transport.publish(origin, events)
                    replayed.sent[origin] += len(events)
                consumer.commit(records)
                replayed.kept += kept
                done += len(records)
                progress(topic, done, total)
        finally:
            consumer.close()
    return replayed
