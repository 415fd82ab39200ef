"""The local router: plays KafkaSource and PingSource for local and embedded runs.

For each KafkaSource in the wiring it consumes the topics in the source's
consumer group and hands the events to the named function, a poll's worth at a
time (a function's core accepts a batch in-process). A failed delivery is
retried as the source's `delivery` block says; then each event is tried alone
and the ones that still fail go to the dead-letter topic, with Knative's error
extensions, exactly once. Offsets are committed only after that. For each
PingSource it fires `dev.knative.sources.ping` events on the cron schedule
(or every `tick_seconds`, to make schedules testable).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from cloudevents.http import CloudEvent
from croniter import croniter

from eventing.binding import decode
from eventing.events import PING, make_event, rejected_event
from eventing.transport import Consumer, Record, Transport
from eventing.wiring import Delivery, KafkaSubscription, PingSchedule, Wiring

Function = Callable[[Sequence[CloudEvent]], object]

log = logging.getLogger(__name__)

POLL_RECORDS = 100  # records per delivery: gateway batches of 500 readings make 50,000
POLL_TIMEOUT = 0.5


class Router:
    def __init__(
        self,
        transport: Transport,
        wiring: Wiring,
        functions: Mapping[str, Function],
        *,
        tick_seconds: float | None = None,
    ) -> None:
        missing = {s.function for s in wiring.subscriptions + wiring.schedules} - set(functions)  # type: ignore[operator]
        if missing:
            raise ValueError(f"the manifests route to functions that are not running: {sorted(missing)}")
        self.transport = transport
        self.wiring = wiring
        self.functions = functions
        self.tick_seconds = tick_seconds
        self.counts: Counter[str] = Counter()  # delivered / retried / dead_lettered, per function
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._consumers: list[tuple[str, Consumer]] = []  # (group, consumer), for the lag

    def start(self) -> "Router":
        for subscription in self.wiring.subscriptions:
            for topic in subscription.topics:
                for member in range(subscription.consumers):
                    # Join now, so that nothing published after start() is missed.
                    consumer = self.transport.consumer(topic, subscription.group, member, subscription.consumers)
                    self._consumers.append((subscription.group, consumer))
                    self._spawn(f"source:{subscription.name}:{topic}:{member}", self._consume, subscription, consumer)
        for schedule in self.wiring.schedules:
            self._spawn(f"ping:{schedule.name}", self._ping, schedule)
        return self

    def lag(self) -> dict[tuple[str, str], int]:
        """Records each (consumer group, topic) has yet to take, as far as its consumers know."""
        behind: dict[tuple[str, str], int] = {}
        for group, consumer in self._consumers:
            try:
                behind[(group, consumer.topic)] = behind.get((group, consumer.topic), 0) + consumer.lag()
            except Exception:  # a consumer between assignments cannot tell; leave it out
                continue
        return behind

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # KafkaSource

    def _consume(self, subscription: KafkaSubscription, consumer) -> None:  # type: ignore[no-untyped-def]
        try:
            while not self._stopping.is_set():
                records = consumer.poll(POLL_RECORDS, POLL_TIMEOUT)
                if records:
                    self.deliver_records(subscription, records)
                    consumer.commit(records)
        except Exception:
            log.exception("kafka source stopped", extra={"source": subscription.name})
        finally:
            consumer.close()

    def deliver_records(self, subscription: KafkaSubscription, records: Sequence[Record]) -> None:
        """Deliver records to the subscription's function; returns when each is handled or dead-lettered."""
        events: list[CloudEvent] = []
        for record in records:
            try:
                events.append(decode(record.headers, record.key, record.value))
            except ValueError as error:
                self._dead_letter_record(subscription, record, str(error))
        if not events:
            return
        function = self.functions[subscription.function]
        if self._attempt(function, events, subscription.delivery, subscription.name) is None:
            return
        for event in events:  # find the event(s) the batch failed on
            error = self._attempt(function, [event], Delivery(), subscription.name)
            if error is not None:
                self._dead_letter(subscription, event, error)

    def _attempt(self, function: Function, events: list[CloudEvent], delivery: Delivery, source: str) -> str | None:
        """Deliver with retries; None on success, else the last error."""
        error = "not attempted"
        for attempt in range(delivery.retry + 1):
            if attempt:
                self.counts["retried"] += 1
                if self._stopping.wait(delivery.delay(attempt)):
                    raise RuntimeError("router stopping; leaving the batch uncommitted for redelivery")
            try:
                function(events)
                self.counts["delivered"] += len(events)
                return None
            except Exception as failure:
                error = f"{type(failure).__name__}: {failure}"
                log.warning(
                    "delivery failed",
                    extra={"source": source, "events": len(events), "attempt": attempt + 1, "error": error},
                )
        return error

    def _dead_letter(self, subscription: KafkaSubscription, event: CloudEvent, error: str) -> None:
        topic = subscription.delivery.dead_letter_topic
        self.counts["dead_lettered"] += 1
        if topic is None:
            log.error("event dropped: no dead-letter sink", extra={"source": subscription.name, "id": event["id"]})
            return
        # Knative's dead-letter extensions: where it was going, the status, the reply.
        event["knativeerrordest"] = subscription.function
        event["knativeerrorcode"] = "500"
        event["knativeerrordata"] = error[:1000]
        self.transport.publish(topic, [event])

    def _dead_letter_record(self, subscription: KafkaSubscription, record: Record, reason: str) -> None:
        topic = subscription.delivery.dead_letter_topic
        self.counts["dead_lettered"] += 1
        original = (record.value or b"").decode("utf-8", errors="replace")
        log.warning("undecodable record", extra={"source": subscription.name, "reason": reason})
        if topic is not None:
            self.transport.publish(topic, [rejected_event(reason, original, None)])

    # PingSource

    def _ping(self, schedule: PingSchedule) -> None:
        function = self.functions[schedule.function]
        for fire_at in self._ticks(schedule):
            if self._stopping.wait(max(0.0, fire_at - time.time())):
                return
            event = make_event(PING, f"/apis/v1/namespaces/iot-monitoring/pingsources/{schedule.name}", schedule.data)
            event["datacontenttype"] = "application/json"
            if self._attempt(function, [event], Delivery(retry=2, backoff_delay=0.5), schedule.name) is not None:
                log.error("ping delivery failed", extra={"source": schedule.name})

    def _ticks(self, schedule: PingSchedule):  # type: ignore[no-untyped-def]
        if self.tick_seconds:
            next_at = time.time()
            while True:
                next_at += self.tick_seconds
                yield next_at
        cron = croniter(schedule.schedule, datetime.now(ZoneInfo(schedule.timezone)))
        while True:
            yield cron.get_next(float)
