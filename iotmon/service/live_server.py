"""python-socketio's server, with a bound on what waits to be sent to each client.

Engine.IO queues every packet for a client in an unbounded queue that a writer
task empties as fast as the client reads. A client that stops reading makes it
grow for as long as it stays connected, and it stays: the writer, stuck on the
full socket, keeps Engine.IO from closing it when its pings go unanswered. Here
a client whose queue holds `MAX_BACKLOG` packets is sent nothing more: it is
disconnected and its queue emptied, so what it held is freed at once.
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


def _queue(engine: engineio.AsyncServer, eio_sid: str) -> asyncio.Queue[Any] | None:
    """The client's outgoing queue. Engine.IO offers no public way to see it: `sockets` and each socket's
    `queue` are its internals (python-engineio 4), read only here."""
    socket = engine.sockets.get(eio_sid)
    return None if socket is None else socket.queue


class _BoundedEngine(engineio.AsyncServer):  # type: ignore[misc]  # python-engineio ships no type hints
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

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _BoundedEngine

    def backlog(self, sid: str) -> int:
        """Packets waiting to be sent to the connection `sid`."""
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        return 0 if eio_sid is None else int(self.eio.backlog(eio_sid))

    async def drop(self, sid: str) -> None:
        """Disconnect the connection `sid` without waiting for what it has not read."""
        if (eio_sid := self.manager.eio_sid_from_sid(sid, NAMESPACE)) is not None:
            await self.eio.drop(eio_sid)
