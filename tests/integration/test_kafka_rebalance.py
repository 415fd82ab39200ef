"""A consumer that dies without leaving its group hands its partitions to a live member within 15 s
(eventing/kafka.py's session timeout; librdkafka's default would take 45 s)."""

from __future__ import annotations

import itertools
import queue
import subprocess
import sys
import threading
import time
import uuid

import msgspec
import pytest
from confluent_kafka import Producer

from eventing.events import READING, make_event
from eventing.kafka import KafkaTransport
from eventing.router import Router
from eventing.wiring import KafkaSubscription, Wiring
from tests.support.waiting import wait_for

pytestmark = pytest.mark.kafka

PARTITIONS = 4
HANDOVER_S = 15.0

# The member to kill: a process of its own, with the transport's consumer settings; it never commits, and
# says how many partitions it holds whenever that changes.
MEMBER = """
import sys
from confluent_kafka import Consumer
from eventing.kafka import CONSUMER_DEFAULTS
bootstrap, topic, group = sys.argv[1:]
consumer = Consumer({**CONSUMER_DEFAULTS, "bootstrap.servers": bootstrap, "group.id": group})
consumer.subscribe([topic], on_assign=lambda c, partitions: print(len(partitions), flush=True))
while True:
    consumer.poll(0.2)
"""


def test_a_killed_members_partitions_move_to_a_live_one(kafka_bootstrap: str) -> None:
    topic, group = f"rebalance-{uuid.uuid4().hex[:8]}", f"rebalance-{uuid.uuid4().hex[:8]}"
    transport = KafkaTransport(kafka_bootstrap, "test-rebalance")
    transport.ensure_topics([topic], partitions=PARTITIONS)
    member = subprocess.Popen(
        [sys.executable, "-c", MEMBER, kafka_bootstrap, topic, group], stdout=subprocess.PIPE, text=True
    )
    held: queue.Queue[str] = queue.Queue()  # the member's partition counts, read on a thread: never blocking

    def read() -> None:
        for line in member.stdout or ():
            held.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    survivor = None
    try:
        assert held.get(timeout=60) == str(PARTITIONS)  # alone in the group first
        # Only now: a member that has joined but does not poll yet would hold the group's first rebalance.
        survivor = transport.consumer(topic, group)
        seen: set[int] = set()

        def poll() -> set[int]:
            records = survivor.poll(100, 0.2)
            survivor.commit(records)
            seen.update(record.partition for record in records)
            return seen

        def member_holds_half() -> bool:
            survivor.poll(1, 0.2)  # joins (a rebalance completes only while its members poll)
            return not held.empty() and held.get() == str(PARTITIONS // 2)

        wait_for(member_holds_half, 60, "the member to give up half")
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        for partition in range(PARTITIONS):
            producer.produce(topic, b"reading", partition=partition)
        assert producer.flush(10) == 0
        wait_for(lambda: len(poll()) == PARTITIONS // 2, 10, "the survivor's own half")

        member.kill()  # no LeaveGroup: only the session timeout tells the broker
        killed = time.monotonic()
        wait_for(lambda: len(poll()) == PARTITIONS, HANDOVER_S, "the killed member's partitions")
        print(f"partitions handed over {time.monotonic() - killed:.1f} s after the kill")
    finally:
        member.kill()
        member.wait(10)
        if survivor is not None:
            survivor.close()
        transport.close()


class Recorder:
    """A function taking one event per request (as over HTTP), noting when each delivery ran and on what key."""

    batch = False
    concurrency = 8
    destination = "recorder"

    def __init__(self, name: str) -> None:
        self.name = name
        self.deliveries: list[tuple[str, int, float, float]] = []  # key, n, started, ended
        self._lock = threading.Lock()

    def attempt(self, events, timeout):
        (event,) = events
        started = time.monotonic()
        time.sleep(0.005)
        with self._lock:
            self.deliveries.append(
                (event["partitionkey"], int(msgspec.json.decode(event.get_data())["n"]), started, time.monotonic())
            )
        return None

    def close(self) -> None:
        pass


class Publisher:
    """Publishes a round of events (one per key, numbered in order) every 10 ms until stopped."""

    def __init__(self, transport: KafkaTransport, topic: str, keys: list[str]) -> None:
        self.transport, self.topic, self.keys = transport, topic, keys
        self.sent: set[tuple[str, int]] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        for n in itertools.count():
            if self._stopped.is_set():
                return
            self.transport.publish(self.topic, [make_event(READING, "/t", {"n": n}, key=k) for k in self.keys])
            self.sent.update((k, n) for k in self.keys)
            time.sleep(0.01)


def test_a_partition_moved_while_its_events_are_in_flight_keeps_its_order(kafka_bootstrap: str) -> None:
    """Ordered delivery streams each partition on its own, with events in flight while the consumer polls: a
    member that loses a partition finishes and commits what it has in flight first, so the new owner never runs
    beside it and each key's events are still handled in order."""
    topic, group = f"moved-{uuid.uuid4().hex[:8]}", f"moved-{uuid.uuid4().hex[:8]}"
    transport = KafkaTransport(kafka_bootstrap, "test-moved")
    transport.ensure_topics([topic], partitions=PARTITIONS)
    wiring = Wiring((KafkaSubscription("moved", (topic,), group, "fn", initial_offset="earliest"),), ())
    keys = [f"device-{n:03d}" for n in range(12)]
    published = Publisher(transport, topic, keys)
    first, second = Recorder("fn"), Recorder("fn")
    routers = [Router(transport, wiring, {"fn": first}).start()]
    try:
        published.start()  # keeps both routers busy until the handover is over, however long the join takes
        wait_for(lambda: len(first.deliveries) > 200, 60, "the first router to be busy")
        routers.append(Router(transport, wiring, {"fn": second}).start())  # takes half the partitions
        wait_for(lambda: second.deliveries, 60, "the second router to get partitions")
        wait_for(lambda: len(second.deliveries) > 100, 60, "the second router to be busy")
        published.stop()
        wait_for(lambda: {(k, n) for k, n, *_ in first.deliveries + second.deliveries} >= published.sent, 120, "every event")  # fmt: skip
    finally:
        published.stop()
        for router in routers:
            router.stop()
        transport.close()
    for key in keys:
        mine = sorted((d for d in first.deliveries + second.deliveries if d[0] == key), key=lambda d: d[2])
        assert all(a[3] <= b[2] for a, b in itertools.pairwise(mine)), f"{key}: two deliveries at once"
        handled = [n for _, n, *_ in mine]
        assert handled == sorted(handled), f"{key} out of order: {handled}"
