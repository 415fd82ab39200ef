"""The service's Socket.IO client manager: python-socketio's Redis manager, made to recover from a Redis outage.

Redis pub/sub keeps nothing, so what the functions publish while this replica
is not subscribed is lost to it. Three changes to the library's manager:

- The listener resubscribes at most `RETRY_MAX_S` after Redis is back (the
  library backs off up to 60 s, and drops everything published meanwhile).
- Each subscription Redis confirms calls `on_subscribed`, which replays the
  alert changes missed from PostgreSQL (iotmon/service/realtime.py). The
  confirmation, not the SUBSCRIBE sent, is when messages reach us again; it
  comes too when redis-py reconnects and resubscribes on its own.
- An alert change is sent to a connection at most once (`SentAlerts`), whether
  it comes live, replayed, or both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import socketio

from iotmon.adapters.redis import clients
from iotmon.core import live
from iotmon.service.context import REDIS_TIMEOUT_S

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.25
RETRY_MAX_S = 2.0
REORDER_WINDOW = 500  # sequences: how far behind its newest change a connection may still lack one

_ALERT_EVENTS = frozenset({live.ALERT_TRIGGERED, live.ALERT_RESOLVED})


@dataclass
class _Sent:
    floor: int  # the connection's view starts after this sequence
    high: int  # the newest sequence sent
    sequences: set[int] = field(default_factory=set)  # those sent above `lower`

    def lower(self, window: int) -> int:
        return max(self.floor, self.high - window)


class SentAlerts:
    """Which alert changes (by `sequence`) each connection in the alerts room was sent, near its newest.

    Changes do not arrive in sequence order (notify works on devices in
    parallel, replays interleave with live messages), so a connection may lack
    changes older than the newest it has. A catch-up asks for everything after
    `missing(sid)`'s sequence and skips the ones listed: at most `window` back.
    """

    def __init__(self, window: int = REORDER_WINDOW) -> None:
        self.window = window
        self._by_sid: dict[str, _Sent] = {}

    def start(self, sid: str, floor: int) -> None:
        """Follow a connection that has seen (or does not want) every change up to `floor`."""
        if (sent := self._by_sid.get(sid)) is not None:
            sent.floor = min(sent.floor, floor)  # subscribed again, asking for more
        else:
            self._by_sid[sid] = _Sent(floor, floor)

    def forget(self, sid: str) -> None:
        self._by_sid.pop(sid, None)

    def take(self, sid: str, sequence: int) -> bool:
        """Whether to send this change to the connection; if so it is recorded as sent."""
        sent = self._by_sid.get(sid)
        if sent is None:
            return True
        if sequence in sent.sequences:
            return False
        if sequence > sent.high:
            sent.high = sequence
            lower = sent.lower(self.window)
            sent.sequences = {s for s in sent.sequences if s > lower}
        if sequence > sent.lower(self.window):
            sent.sequences.add(sequence)
        return True

    def missing(self, sid: str) -> tuple[int, list[int]] | None:
        """(after which sequence, which later ones it has) for a catch-up; None when it is not followed."""
        sent = self._by_sid.get(sid)
        return None if sent is None else (sent.lower(self.window), sorted(sent.sequences))


def _alert_sequence(message: dict[str, Any]) -> int | None:
    """The sequence of an alert change for the alerts room, as the pub/sub manager carries it."""
    data = message.get("data")
    if message.get("event") not in _ALERT_EVENTS or message.get("room") != live.ALERTS_ROOM:
        return None
    payload = data[0] if isinstance(data, list) and data else None
    sequence = payload.get("sequence") if isinstance(payload, dict) else None
    return sequence if isinstance(sequence, int) else None


def _as_list(skip_sid: Any) -> list[Any]:
    if skip_sid is None:
        return []
    return list(skip_sid) if isinstance(skip_sid, list) else [skip_sid]


class LiveManager(socketio.AsyncRedisManager):  # type: ignore[misc]  # python-socketio ships no type hints
    def __init__(
        self, redis_url: str, channel: str, sent: SentAlerts, on_subscribed: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        super().__init__(redis_url, channel=channel, redis_options=clients.async_options(REDIS_TIMEOUT_S))
        self.sent = sent
        self.on_subscribed = on_subscribed
        self._tasks: set[asyncio.Task[None]] = set()

    async def _redis_listen_with_retries(self) -> AsyncIterator[dict[str, Any]]:
        """The library's loop with a short backoff, telling `on_subscribed` each time Redis confirms."""
        delay = RETRY_FIRST_S
        while True:
            pubsub = None
            try:
                self._redis_connect()
                pubsub = self.pubsub  # held here: a failed publish makes the library replace self.pubsub
                pubsub.ignore_subscribe_messages = False
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        delay = RETRY_FIRST_S
                        self._subscribed()
                    yield message
            except Exception as error:
                log.warning("Socket.IO listener lost Redis", extra={"error": str(error), "retry_in_s": delay})
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _subscribed(self) -> None:
        task = asyncio.get_running_loop().create_task(self.on_subscribed())
        self._tasks.add(task)  # a reference, or the loop may drop it unfinished
        task.add_done_callback(self._tasks.discard)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        """Deliver a live message here, but not an alert change to a connection that already has it."""
        sequence = _alert_sequence(message)
        if sequence is not None:
            namespace = message.get("namespace") or "/"
            have = [
                sid
                for sid, _ in self.get_participants(namespace, live.ALERTS_ROOM)
                if not self.sent.take(sid, sequence)
            ]
            message = {**message, "skip_sid": _as_list(message.get("skip_sid")) + have}
        await super()._handle_emit(message)
