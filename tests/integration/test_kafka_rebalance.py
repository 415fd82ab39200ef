"""A consumer that dies without leaving its group hands its partitions to a live member within 15 s
(eventing/kafka.py's session timeout; librdkafka's default would take 45 s)."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
import uuid

import pytest
from confluent_kafka import Producer

from eventing.kafka import KafkaTransport
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
