"""The MQTT bridge's inbox: bursts from paho's thread go in in order, never past its bounds on messages and bytes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from iotmon.bridges.mqtt import Inbox, Message

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def message(n: int, size: int = 10) -> Message:
    return Message(f"t/{n}", b"x" * size, size, 1, n, 1, NOW)


def test_a_burst_past_the_bounds_waits_for_room_and_keeps_its_order() -> None:
    inbox = Inbox(max_messages=3, max_bytes=1000)
    burst = [message(n) for n in range(8)]
    went_in: list[int] = []
    putter = threading.Thread(target=lambda: went_in.append(inbox.put(burst)))
    putter.start()
    taken: list[Message] = []
    while len(taken) < len(burst):
        batch = inbox.take(2, linger_s=0, timeout=5)
        assert batch and inbox._held <= 3
        taken += batch
        inbox.done(batch)
    putter.join(5)
    assert went_in == [8] and [m.mid for m in taken] == list(range(8))


def test_bytes_bound_the_inbox_too_and_one_message_always_goes_in() -> None:
    inbox = Inbox(max_messages=100, max_bytes=25)
    putter = threading.Thread(target=inbox.put, args=([message(0, 50), message(1), message(2)],))
    putter.start()
    time.sleep(0.2)
    assert inbox._held == 1  # one too big for the bound is let in alone
    first = inbox.take(10, linger_s=0, timeout=1)
    inbox.done(first)
    putter.join(5)
    assert [m.mid for m in first + inbox.take(10, linger_s=0, timeout=1)] == [0, 1, 2]


def test_a_closed_inbox_says_how_many_went_in() -> None:
    inbox = Inbox(max_messages=2, max_bytes=1000)
    result: list[int] = []
    putter = threading.Thread(target=lambda: result.append(inbox.put([message(n) for n in range(5)])))
    putter.start()
    time.sleep(0.2)
    inbox.close()
    putter.join(5)
    assert result == [2]
