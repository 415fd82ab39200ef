"""Live connections end with their session: a Socket.IO connection made with a token is closed when the token
expires or its session ends (logout, the user deleted or changed).

Every connection's session is checked once a second in one query (all of this
replica's sessions at once), and at once when this replica ends a session; so
a session ended on any replica closes its connections everywhere within a
second. The client reconnects with a fresh token from POST /api/auth/refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
import socketio

from iotmon.core.contracts.live import LiveError
from iotmon.service.access import Access, Session
from iotmon.service.queries import sessions
from iotmon.service.responses import now_iso

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0


class LiveSessions:
    def __init__(self, sio: socketio.AsyncServer, access: Access) -> None:
        self.sio, self.access = sio, access
        self._watched: dict[str, Session] = {}  # Socket.IO sid → its session
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def watch(self, sid: str, session: Session) -> None:
        self._watched[sid] = session

    def forget(self, sid: str) -> None:
        self._watched.pop(sid, None)

    def check_soon(self) -> None:
        """This replica has just ended a session: close its connections now, not at the next tick."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECK_EVERY_S)
            self._wake.clear()
            try:
                await self.check()
            except Exception as problem:  # PostgreSQL away: try again at the next tick
                log.warning("live sessions not checked", extra={"error": str(problem)})

    async def check(self) -> None:
        """Close the connections whose token has expired or whose session has ended."""
        watched = dict(self._watched)  # as it is now: connections made during the query wait for the next check
        now = time.time()
        for sid in [sid for sid, session in watched.items() if session.expires <= now]:
            await self._close(sid, "the token has expired: refresh it")  # (needs no database)
            del watched[sid]
        if not watched:
            return
        async with self.access.db.connection() as conn:
            live = await sessions.live_ones(conn, list({session.session_id for session in watched.values()}))
        for sid, session in watched.items():
            if session.session_id not in live:
                await self._close(sid, "the session has ended: log in again")

    async def _close(self, sid: str, why: str) -> None:
        self.forget(sid)
        notice = LiveError(event="session", message=why, timestamp=now_iso())
        # This replica's own client: nothing to tell the others through Redis.
        await self.sio.emit("error", msgspec.to_builtins(notice), to=sid, ignore_queue=True)
        await self.sio.disconnect(sid)
