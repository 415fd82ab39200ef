"""The in-process transport keeps Kafka's contract: partitions by key, groups, at-least-once."""

from eventing.binding import decode
from eventing.events import make_event
from eventing.memory import MemoryTransport


def events(key: str, count: int, start: int = 0):
    return [make_event("t", "/test", {"n": n}, key=key) for n in range(start, start + count)]


def numbers(records):
    import msgspec

    return [msgspec.json.decode(decode(r.headers, r.key, r.value).get_data())["n"] for r in records]


def test_one_key_stays_in_order_on_one_partition():
    transport = MemoryTransport(partitions=4)
    transport.publish("t", events("device-001", 50))
    records = transport.consumer("t", "g").poll(100, 0)
    assert len({r.partition for r in records}) == 1
    assert numbers(records) == list(range(50))


def test_every_group_sees_every_record():
    transport = MemoryTransport()
    a, b = transport.consumer("t", "a"), transport.consumer("t", "b")
    transport.publish("t", events("k1", 3) + events("k2", 3))
    assert len(a.poll(100, 0)) == 6 and len(b.poll(100, 0)) == 6


def test_uncommitted_records_are_delivered_again_to_the_next_consumer():
    transport = MemoryTransport()
    first = transport.consumer("t", "g")
    transport.publish("t", events("k", 10))
    batch = first.poll(4, 0)
    first.commit(batch)
    first.poll(100, 0)  # taken but never committed: the consumer "crashed"
    again = transport.consumer("t", "g").poll(100, 0)
    assert numbers(again) == list(range(4, 10))


def test_poll_waits_for_records_and_times_out():
    transport = MemoryTransport()
    consumer = transport.consumer("t", "g")
    assert consumer.poll(10, 0.05) == []


def test_records_every_group_committed_are_dropped():
    transport = MemoryTransport()
    a, b = transport.consumer("t", "a"), transport.consumer("t", "b")
    transport.publish("t", events("k", 5))
    a.commit(a.poll(100, 0))
    assert len(transport.records("t")) == 5  # b has not committed yet
    b.commit(b.poll(100, 0))
    assert transport.records("t") == []


def test_members_of_a_group_share_the_partitions():
    transport = MemoryTransport(partitions=4)
    members = [transport.consumer("t", "g", member, 2) for member in range(2)]
    transport.publish("t", [e for key in ("a", "b", "c", "d", "e", "f") for e in events(key, 5)])
    taken = [member.poll(100, 0) for member in members]
    assert sum(len(records) for records in taken) == 30
    assert not {r.partition for r in taken[0]} & {r.partition for r in taken[1]}
