"""The local router: plays KafkaSource and PingSource for local and embedded runs.

For each KafkaSource in the wiring it consumes the topics in the source's
consumer group and turns each record into the event the KafkaSource would send
(eventing.sources). It delivers them to the named function
(eventing.delivery): in-process, a poll's worth at a time; over HTTP, one
event per request, several requests in flight, and, when the source's ordering
is `ordered` (Knative's default), one at a time per partition. Ordered
partitions go independently of each other, as in Knative's dispatcher: a
partition's next events go as soon as its previous one is answered, and its
offsets are committed as its events are handled, so a busy partition holds
up only itself. When Kafka moves a partition to another member, its events in
flight are finished and committed first, and the new owner starts after them.

A failed delivery is retried as the source's `delivery` block says (retry
count, exponential or linear backoff from backoffDelay, a per-request
timeout); an event the function refuses (HTTP 3xx/4xx other than 404, 409,
429; `Rejected` in-process) is not retried. Then it goes to the dead-letter
topic with Knative's extensions: knativeerrordest, and when the function
answered, knativeerrorcode and knativeerrordata (the answer, base64, at most
1 KiB). In-process, a failed batch is retried whole, then each event is tried
alone so that only the ones that fail are dead-lettered. A record whose
CloudEvent attributes are broken is never delivered: it goes to the
dead-letter topic at once, as the plain record it is, with the reason in
`iotmonerror`. Offsets are committed only once every event of the poll is
handled or dead-lettered.

For each PingSource it fires `dev.knative.sources.ping` events on the cron
schedule (or every `tick_seconds`, to make schedules testable).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from zoneinfo import ZoneInfo

from cloudevents.http import CloudEvent
from croniter import croniter

from eventing.delivery import Core, Failure, Function, as_function
from eventing.sources import NAMESPACE, InvalidEvent, ping_event, record_event, wrap_record
from eventing.transport import Consumer, Record, Transport
from eventing.wiring import Delivery, KafkaSubscription, PingSchedule, Wiring

log = logging.getLogger(__name__)

POLL_RECORDS = 100  # records per delivery over HTTP: gateway batches of 500 readings make 50,000
# In-process, a poll's worth goes to the function at once: as many records as make about POLL_BYTES (a
# device's single readings, as the API writes them, or gateway batches), so that each call's fixed costs
# are spread over thousands of readings.
BATCH_RECORDS = 5_000
POLL_BYTES = 4_000_000
POLL_TIMEOUT = 0.5
LANE_WAIT = 0.01  # seconds an ordered consumer waits for an answer before looking for new records again
LOG_EVERY_ATTEMPTS = 10
RESTART_DELAY = 1.0  # seconds before a source whose consumer failed joins its group again
PING_DELIVERY = Delivery(retry=2, backoff_delay=0.5)
PING_CONTENT_TYPE = "application/json"  # the PingSource's contentType in knative/


class Stopping(RuntimeError):
    """The router is stopping: the batch is left uncommitted, for redelivery."""


def lanes(records: Sequence[Record], events: Sequence[CloudEvent], ordered: bool) -> list[list[CloudEvent]]:
    """Events that must go one after the other: per partition when ordered, else each alone."""
    if not ordered:
        return [[event] for event in events]
    by_partition: dict[tuple[str, int], list[CloudEvent]] = {}
    for record, event in zip(records, events, strict=True):
        by_partition.setdefault((record.topic, record.partition), []).append(event)
    return list(by_partition.values())


class Router:
    def __init__(
        self,
        transport: Transport,
        wiring: Wiring,
        functions: Mapping[str, Function | Core],
        *,
        tick_seconds: float | None = None,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        """`share` (k, n): this router is the k-th of n processes sharing the wiring (`iotmon up --workers n`); it
        runs the group members m with m mod n = k, and the schedules only when k = 0."""
        if not 0 <= share[0] < share[1]:
            raise ValueError(f"share {share[0]}/{share[1]} is not one of 0/n … n-1/n")
        missing = {s.function for s in wiring.subscriptions + wiring.schedules} - set(functions)
        if missing:
            raise ValueError(f"the manifests route to functions that are not running: {sorted(missing)}")
        self.transport = transport
        self.wiring = wiring
        self.functions = {name: as_function(name, target) for name, target in functions.items()}
        self.tick_seconds = tick_seconds
        self.share = share
        self.counts: Counter[str] = Counter()  # delivered / retried / dead_lettered
        self._counts_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._consumers: dict[str, tuple[str, Consumer]] = {}  # thread name -> (group, consumer), for the lag
        self._pools = {
            name: ThreadPoolExecutor(function.concurrency, thread_name_prefix=f"deliver:{name}")
            for name, function in self.functions.items()
            if not function.batch and function.concurrency > 1
        }

    def start(self) -> Router:
        for subscription in self.wiring.subscriptions:
            for topic in subscription.topics:
                for member in range(self.share[0], subscription.consumers, self.share[1]):
                    name = f"source:{subscription.name}:{topic}:{member}"
                    # Join now, so that nothing published after start() is missed.
                    self._consumers[name] = (subscription.group, self._join(subscription, topic, member))
                    self._spawn(name, self._consume, subscription, topic, member)
        for schedule in self.wiring.schedules if self.share[0] == 0 else ():
            self._spawn(f"ping:{schedule.name}", self._ping, schedule)
        return self

    def lag(self) -> dict[tuple[str, str], int]:
        """Records each (consumer group, topic) has yet to take, as far as its consumers know."""
        behind: dict[tuple[str, str], int] = {}
        for group, consumer in list(self._consumers.values()):
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
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        for function in self.functions.values():
            function.close()

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _count(self, outcome: str, n: int = 1) -> None:
        with self._counts_lock:
            self.counts[outcome] += n

    def _wait(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise Stopping("router stopping; leaving the batch uncommitted for redelivery")

    # KafkaSource

    def _join(self, subscription: KafkaSubscription, topic: str, member: int) -> Consumer:
        return self.transport.consumer(topic, subscription.group, member, subscription.consumers)

    def _consume(self, subscription: KafkaSubscription, topic: str, member: int) -> None:
        name = threading.current_thread().name
        group, consumer = self._consumers[name]
        while True:
            try:
                if self._by_partition(subscription):
                    self._stream(subscription, consumer)
                else:
                    self._poll_and_deliver(subscription, consumer)
                return
            except Stopping:
                return
            except Exception:
                # Nothing past the last commit is lost: a new member resumes from it.
                log.exception("kafka source failed; joining again", extra={"source": subscription.name, "topic": topic})
            finally:
                consumer.close()
            if (again := self._rejoin(subscription, topic, member)) is None:
                return
            consumer = again
            self._consumers[name] = (group, consumer)

    def _rejoin(self, subscription: KafkaSubscription, topic: str, member: int) -> Consumer | None:
        """A new member once the transport takes one (it may be away for a while); None if stopping first."""
        while not self._stopping.wait(RESTART_DELAY):
            try:
                return self._join(subscription, topic, member)
            except Exception as error:
                log.warning(
                    "kafka source cannot join yet; trying again",
                    extra={"source": subscription.name, "topic": topic, "error": str(error)[:300]},
                )
        return None

    def _poll_and_deliver(self, subscription: KafkaSubscription, consumer: Consumer) -> None:
        """Deliver a poll's worth at a time until stopping, committing each once it is all handled."""
        batch = self.functions[subscription.function].batch
        while not self._stopping.is_set():
            records = (
                consumer.poll(BATCH_RECORDS, POLL_TIMEOUT, POLL_BYTES)
                if batch
                else consumer.poll(POLL_RECORDS, POLL_TIMEOUT)
            )
            if records:
                self.deliver_records(subscription, records)
                consumer.commit(records)

    def _by_partition(self, subscription: KafkaSubscription) -> bool:
        """Ordered events to a function that takes one per request: streamed, each partition on its own."""
        return subscription.ordering != "unordered" and subscription.function in self._pools

    def _stream(self, subscription: KafkaSubscription, consumer: Consumer) -> None:
        """Deliver until stopping: each partition's records in order, partitions independently; commit each
        partition's records once handled. Raises (nothing more committed) when a delivery fails."""
        pool = self._pools[subscription.function]
        waiting: dict[int, deque[Record]] = defaultdict(deque)
        running: dict[int, tuple[Future[None], list[Record]]] = {}

        def finish(partitions: Iterable[int]) -> None:
            handled: list[Record] = []
            for partition in list(partitions):
                if (lane := running.pop(partition, None)) is not None:
                    lane[0].result()  # raises the lane's error: its records are not committed
                    handled += lane[1]
            if handled:
                consumer.commit(handled)

        def revoked(partitions: list[int]) -> None:
            finish(partitions)  # the partition's new owner starts after what is in flight here
            for partition in partitions:
                waiting.pop(partition, None)  # not committed: the new owner delivers them

        consumer.on_revoke(revoked)
        try:
            while not self._stopping.is_set():
                finish(partition for partition, (future, _) in running.items() if future.done())
                for partition, queue in waiting.items():
                    if queue and partition not in running:
                        lane = [queue.popleft() for _ in range(min(len(queue), POLL_RECORDS))]
                        running[partition] = (pool.submit(self.deliver_records, subscription, lane), lane)
                if sum(map(len, waiting.values())) < POLL_RECORDS:
                    for record in consumer.poll(POLL_RECORDS, 0.0 if running else POLL_TIMEOUT):
                        waiting[record.partition].append(record)
                if running:
                    wait([future for future, _ in running.values()], LANE_WAIT, FIRST_COMPLETED)
        finally:
            wait([future for future, _ in running.values()])  # none may outlive this member: order

    def deliver_records(self, subscription: KafkaSubscription, records: Sequence[Record]) -> None:
        """Deliver records to the subscription's function; returns when each is handled or dead-lettered."""
        function = self.functions[subscription.function]
        valid: list[Record] = []
        events: list[CloudEvent] = []
        for record in records:
            try:
                events.append(record_event(record, subscription.name, NAMESPACE))
                valid.append(record)
            except InvalidEvent as invalid:
                self._dead_letter_invalid(subscription, function, record, str(invalid))
        if not events:
            return
        if function.batch:
            self._deliver_batch(subscription, function, events)
            return
        work = lanes(valid, events, ordered=subscription.ordering != "unordered")
        if len(work) == 1 or subscription.function not in self._pools:
            for lane in work:
                self._deliver_lane(subscription, function, lane)
            return
        futures = [
            self._pools[subscription.function].submit(self._deliver_lane, subscription, function, lane) for lane in work
        ]
        wait(futures)
        for future in futures:
            future.result()  # raises the first error (Stopping, a dead-letter topic that failed): nothing is committed

    def _deliver_batch(self, subscription: KafkaSubscription, function: Function, events: list[CloudEvent]) -> None:
        failure = self._attempt(function, events, subscription.delivery, subscription.name)
        if failure is None:
            return
        if len(events) == 1:
            self._dead_letter(subscription, function, events[0], failure)
            return
        for event in events:  # find the event(s) the batch failed on
            alone = self._attempt(function, [event], Delivery(), subscription.name)
            if alone is not None:
                self._dead_letter(subscription, function, event, alone)

    def _deliver_lane(self, subscription: KafkaSubscription, function: Function, lane: list[CloudEvent]) -> None:
        for event in lane:
            failure = self._attempt(function, [event], subscription.delivery, subscription.name)
            if failure is not None:
                self._dead_letter(subscription, function, event, failure)

    def _attempt(self, function: Function, events: list[CloudEvent], delivery: Delivery, source: str) -> Failure | None:
        """Deliver with retries; None on success, else the last failure."""
        failure: Failure | None = None
        for attempt in range(delivery.retry + 1):
            if attempt:
                self._count("retried")
                self._wait(delivery.delay(attempt))
            failure = function.attempt(events, delivery.timeout)
            if failure is None:
                self._count("delivered", len(events))
                if attempt:
                    log.info("delivered after retries", extra={"source": source, "attempts": attempt + 1})
                return None
            if attempt % LOG_EVERY_ATTEMPTS and failure.retryable and attempt < delivery.retry:
                continue  # an outage fails every try: say so on the first and every tenth
            log.warning(
                "delivery failed",
                extra={
                    "source": source,
                    "function": function.name,
                    "events": len(events),
                    "id": events[0]["id"] if len(events) == 1 else None,
                    "attempt": attempt + 1,
                    "status": failure.status,
                    "retryable": failure.retryable,
                    "error": failure.reason[:500],
                },
            )
            if not failure.retryable:
                break
        return failure

    def _dead_letter(
        self, subscription: KafkaSubscription, function: Function, event: CloudEvent, failure: Failure
    ) -> None:
        # Knative's dead-letter extensions: the status and the answer (and where it was going, in _send_dead).
        if failure.status is not None:
            event["knativeerrorcode"] = str(failure.status)
            if failure.body:
                event["knativeerrordata"] = base64.b64encode(failure.body).decode()
        self._send_dead(subscription, function, event)

    def _dead_letter_invalid(
        self, subscription: KafkaSubscription, function: Function, record: Record, reason: str
    ) -> None:
        log.warning("invalid CloudEvent record", extra={"source": subscription.name, "reason": reason})
        event = wrap_record(record, subscription.name, NAMESPACE)
        event["iotmonerror"] = reason[:200]
        self._send_dead(subscription, function, event)

    def _send_dead(self, subscription: KafkaSubscription, function: Function, event: CloudEvent) -> None:
        topic = subscription.delivery.dead_letter_topic
        self._count("dead_lettered")
        if topic is None:
            log.error("event dropped: no dead-letter sink", extra={"source": subscription.name, "id": event["id"]})
            return
        event["knativeerrordest"] = function.destination
        if not event.get("datacontenttype"):  # a wrapped plain record may have none; the Kafka binding needs one
            event["datacontenttype"] = "application/octet-stream"
        self.transport.publish(topic, [event])

    # PingSource

    def _ping(self, schedule: PingSchedule) -> None:
        function = self.functions[schedule.function]
        for fire_at in self._ticks(schedule):
            if self._stopping.wait(max(0.0, fire_at - time.time())):
                return
            event = ping_event(schedule.name, schedule.data, PING_CONTENT_TYPE, NAMESPACE)
            try:
                failure = self._attempt(function, [event], PING_DELIVERY, schedule.name)
            except Stopping:
                return
            if failure is not None:
                log.error("ping delivery failed", extra={"source": schedule.name, "error": failure.reason[:500]})

    def _ticks(self, schedule: PingSchedule) -> Iterator[float]:
        if self.tick_seconds:
            next_at = time.time()
            while True:
                next_at += self.tick_seconds
                yield next_at
        cron = croniter(schedule.schedule, datetime.now(ZoneInfo(schedule.timezone)))
        while True:
            yield cron.get_next(float)
