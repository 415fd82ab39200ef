"""python-socketio's server, with a bound on what waits to be sent to each client, and an answer for what it
cannot read.

Engine.IO queues every packet for a client in an unbounded queue that a writer
task empties as fast as the client reads. A client that stops reading makes it
grow until its unanswered pings end the connection, and even then the writer,
stuck on the full socket, holds the queue for as long as the client keeps its
TCP connection open. Here a client whose queue holds `MAX_BACKLOG` packets is
sent nothing more: it is disconnected and its queue emptied, so what it held is
freed at once.

An event python-socketio cannot read (broken JSON, nesting past Python's
recursion limit, no event name) would raise in its message handler and go
unanswered; here it arrives as the event `UNREADABLE`, which the catch-all
handler answers with `error` (and the Ack, when the client asked for one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import engineio
import socketio

log = logging.getLogger(__name__)

# Packets waiting for one client. A replay is at most one page (iotmon.service.realtime.REPLAY_LIMIT) and
# waits until it has gone out, so a client that reads never comes near this; one that does not is dropped
# holding at most this many (about 1 MB of alert changes).
MAX_BACKLOG = 1_000
NAMESPACE = "/"
UNREADABLE = "(unreadable)"  # the name an event gets when its packet cannot be read


class _ReadablePacket(socketio.packet.Packet):  # type: ignore[misc]  # python-socketio ships no type hints
    """python-socketio's packet (its `serializer` option takes a subclass), every event one with a name."""

    def decode(self, encoded_packet: str | bytes) -> int:
        try:
            attachments: int = super().decode(encoded_packet)
        except (ValueError, RecursionError):
            if self.packet_type != socketio.packet.EVENT:
                raise
            self.data, attachments = [UNREADABLE], 0
        if self.packet_type == socketio.packet.EVENT and not _named(self.data):
            self.data = [UNREADABLE]
        return attachments


def _named(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], str)


def _queue(engine: engineio.AsyncServer, eio_sid: str) -> asyncio.Queue[Any] | None:
    """The client's outgoing queue. Engine.IO offers no public way to see it: `sockets` and each socket's
    `queue` are its internals (python-engineio 4), read only here."""
    socket = engine.sockets.get(eio_sid)
    return None if socket is None else socket.queue


class _BoundedEngine(engineio.AsyncServer):  # type: ignore[misc]  # python-engineio ships no type hints
    """Engine.IO's server with a bound on each client's queue. Engine.IO has no public way to see the queue,
    nor to close a socket without waiting for it to empty: `_queue` and `drop` use its internals (python-engineio
    4: `sockets`, a socket's `queue` and `close(abort=True)`), and nothing else here does."""

    async def send_packet(self, sid: str, pkt: Any) -> None:
        queue = _queue(self, sid)
        if queue is not None and queue.qsize() >= MAX_BACKLOG:
            await self.drop(sid)
            return
        await super().send_packet(sid, pkt)

    def backlog(self, sid: str) -> int:
        queue = _queue(self, sid)
        return 0 if queue is None else queue.qsize()

    async def drop(self, sid: str) -> None:
        """Disconnect a client at once, without waiting for its queue to go out (it may never)."""
        socket = self.sockets.pop(sid, None)
        if socket is None:
            return
        log.warning("Socket.IO client dropped: it does not read what it is sent", extra={"sid": sid})
        # abort: no CLOSE packet after the backlog; the disconnect handlers run now.
        await socket.close(wait=False, abort=True, reason=self.reason.SERVER_DISCONNECT)
        queue: asyncio.Queue[Any] = socket.queue
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                queue.get_nowait()
                queue.task_done()
        queue.put_nowait(None)  # the writer ends as soon as its socket lets it go


class LiveServer(socketio.AsyncServer):  # type: ignore[misc]  # python-socketio ships no type hints
    """The Socket.IO server, over an Engine.IO server that bounds each client's backlog."""

    def __init__(self, **options: Any) -> None:
        super().__init__(serializer=_ReadablePacket, **options)

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        # python-socketio's own seam for the Engine.IO server it builds (internal, but one method).
        return _BoundedEngine

    def backlog(self, sid: str) -> int:
        """Packets waiting to be sent to the connection `sid`."""
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        return 0 if eio_sid is None else int(self.eio.backlog(eio_sid))

    async def drop(self, sid: str) -> None:
        """Disconnect the connection `sid` without waiting for what it has not read."""
        if (eio_sid := self.manager.eio_sid_from_sid(sid, NAMESPACE)) is not None:
            await self.eio.drop(eio_sid)
