"""The Socket.IO protocol: rooms, subscriptions, live events (payloads: iotmon.core.contracts.live).

Clients join rooms: `device:<id>` for `sensor-data` and `device-status`,
`alerts` for `alert-triggered` / `alert-resolved`, `system` for
`system-status`. The functions publish into those rooms through Redis
(python-socketio's Redis manager, write-only on their side), so every replica
of this service delivers to its own clients. A client subscribing to alerts
with the last `sequence` it saw (or the last alert id) gets what it missed, as
the same messages it would have heard live.

Redis pub/sub keeps nothing: what is published while this replica is not
subscribed (Redis down or restarting) never reaches it. So each time the
listener subscribes again, every connection in the alerts room is sent, from
PostgreSQL, the alert changes it has not had (iotmon/service/live_manager.py),
and no connection is sent the same change twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec
import socketio
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from iotmon.adapters.postgres import alerts
from iotmon.adapters.redis import keys
from iotmon.core import live
from iotmon.core.alerts import alert_number
from iotmon.core.contracts.live import (
    Ack,
    ConnectionStatus,
    DependencyState,
    LiveError,
    Pong,
    SensorData,
    SubscribeAlerts,
    SubscribeDevice,
    SystemStatus,
)
from iotmon.service.access import Access
from iotmon.service.context import ServiceContext
from iotmon.service.health import dependencies, overall, statuses
from iotmon.service.live_manager import LiveManager, SentAlerts
from iotmon.service.live_sessions import LiveSessions
from iotmon.service.queries import devices
from iotmon.service.queries import live as live_queries
from iotmon.service.responses import ApiError, now_iso

log = logging.getLogger(__name__)

SYSTEM_STATUS_EVERY_S = 5.0
REPLAY_LIMIT = 500

# Each missed change as the alert move returned it: the alert (its status then), joined with the history row.
_MISSED_CHANGES_SQL = """
SELECT a.id, a.device_id, a.alert_type, a.severity, h.to_status AS status, h.action, a.message,
       a.value, a.threshold, a.triggered_at, a.details || h.details AS details,
       h.id AS seq, h.actor, h.note, h.at
FROM alert_history h JOIN alerts a ON a.id = h.alert_id
WHERE h.id > %(since)s AND a.id > %(after_alert)s AND NOT h.id = ANY(%(have)s)
ORDER BY h.id LIMIT %(limit)s
"""

_LATEST_SEQUENCE_SQL = "SELECT coalesce(max(id), 0) FROM alert_history"


def _plain(payload: msgspec.Struct) -> Any:
    """python-socketio sends JSON of plain values."""
    return msgspec.to_builtins(payload)


def _device_id(data: Any) -> str | None:
    """`subscribe-device` takes "device-001" or {"deviceId": "device-001"}."""
    try:
        return msgspec.convert({"deviceId": data} if isinstance(data, str) else data, SubscribeDevice).device_id
    except msgspec.ValidationError:
        return None


def _replay_cursor(data: Any) -> tuple[int, int] | str:
    """(since sequence, after alert number) from `subscribe-alerts`' payload, or an error message."""
    if data is None:
        return (-1, -1)
    try:
        asked = msgspec.convert(data, SubscribeAlerts)
    except msgspec.ValidationError as error:
        return f'subscribe-alerts takes {{}}, {{"since": <sequence>}} or {{"lastAlertId": "alert-007"}}: {error}'
    if asked.last_alert_id is not None:
        try:
            return (-1, alert_number(asked.last_alert_id))
        except ValueError as error:
            return str(error)
    return (asked.since if asked.since is not None else -1, -1)


class Realtime:
    """The Socket.IO server of one service replica."""

    def __init__(
        self, context: ServiceContext, redis_url: str, access: Access, cors_origins: tuple[str, ...] = ()
    ) -> None:
        self.context = context
        self.access = access
        self.sent = SentAlerts()
        manager = LiveManager(redis_url, keys.SOCKETIO_CHANNEL, self.sent, self.catch_up)
        # Same origin, plus IOTMON_CORS_ORIGINS.
        self.sio = socketio.AsyncServer(
            async_mode="asgi", client_manager=manager, cors_allowed_origins=_same_origin_and(cors_origins)
        )
        self.sessions = LiveSessions(self.sio, access)
        self._status_task: asyncio.Task[None] | None = None
        for event, handler in (
            ("connect", self.connect),
            ("disconnect", self.disconnect),
            ("subscribe-device", self.subscribe_device),
            ("unsubscribe-device", self.unsubscribe_device),
            ("subscribe-alerts", self.subscribe_alerts),
            ("unsubscribe-alerts", self.unsubscribe_alerts),
            ("subscribe-system", self.subscribe_system),
            ("ping", self.ping),
        ):
            self.sio.on(event, handler)

    async def error(self, sid: str, event: str, message: str) -> Any:
        await self.sio.emit("error", _plain(LiveError(event=event, message=message, timestamp=now_iso())), to=sid)
        return _plain(Ack(success=False, error=message))

    async def connect(self, sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        """The handshake accepts the REST API's token: `io(url, {auth: {token}})`."""
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            session = await self.access.verify(token) if isinstance(token, str) and token else None
        except ApiError as denied:
            raise socketio.exceptions.ConnectionRefusedError(denied.message, {"code": denied.code}) from None
        user = session.user if session else None
        if session is not None:
            self.sessions.watch(sid, session)  # closed when its token expires or its session ends
        elif not self.access.anonymous_read:
            # The client's connect_error gets the message and `data.code`, as the REST API's errors carry them.
            raise socketio.exceptions.ConnectionRefusedError("a token is required", {"code": "UNAUTHORIZED"})
        await self.sio.save_session(sid, {"user": user})
        connected = ConnectionStatus(status="connected", client_id=sid, timestamp=now_iso())
        if user is not None:
            connected.username, connected.role = user.name, user.role
        await self.sio.emit("connection-status", _plain(connected), to=sid)

    async def disconnect(self, sid: str, _reason: Any = None) -> None:
        self.sent.forget(sid)
        self.sessions.forget(sid)

    async def subscribe_device(self, sid: str, data: Any = None) -> Any:
        device = _device_id(data)
        if device is None:
            return await self.error(sid, "subscribe-device", 'expected "device-001" or {"deviceId": "device-001"}')
        async with self.context.db.connection() as conn:
            if not await devices.exists(conn, device):
                return await self.error(sid, "subscribe-device", f"unknown device {device!r}")
        await self.sio.enter_room(sid, live.device_room(device))
        if (snapshot := await self._snapshot(device)) is not None:
            await self.sio.emit(live.SENSOR_DATA, _plain(snapshot), to=sid)
        return _plain(Ack(success=True, device_id=device))

    async def unsubscribe_device(self, sid: str, data: Any = None) -> Any:
        device = _device_id(data)
        if device is None:
            return await self.error(sid, "unsubscribe-device", 'expected "device-001" or {"deviceId": "device-001"}')
        await self.sio.leave_room(sid, live.device_room(device))
        return _plain(Ack(success=True, device_id=device))

    async def subscribe_alerts(self, sid: str, data: Any = None) -> Any:
        cursor = _replay_cursor(data)
        if isinstance(cursor, str):
            return await self.error(sid, "subscribe-alerts", cursor)
        since, after_alert = cursor
        # Followed from before it joins the room, so that no live change slips past the record.
        if (start := since if since >= 0 else await self._latest_sequence()) is not None:
            self.sent.start(sid, start)
        await self.sio.enter_room(sid, live.ALERTS_ROOM)
        if cursor == (-1, -1):
            return _plain(Ack(success=True, replayed=0))
        async with self.context.db.connection() as conn:
            rows = await _missed(conn, since, after_alert)
        return _plain(Ack(success=True, replayed=await self._send_changes(sid, rows)))

    async def unsubscribe_alerts(self, sid: str, _data: Any = None) -> Any:
        await self.sio.leave_room(sid, live.ALERTS_ROOM)
        self.sent.forget(sid)
        return _plain(Ack(success=True))

    async def subscribe_system(self, sid: str, _data: Any = None) -> Any:
        await self.sio.enter_room(sid, live.SYSTEM_ROOM)
        await self.sio.emit("system-status", _plain(await self.system_status()), to=sid)
        return _plain(Ack(success=True))

    async def ping(self, _sid: str, _data: Any = None) -> Any:
        return _plain(Pong(status="pong", timestamp=now_iso()))

    async def _snapshot(self, device: str) -> SensorData | None:
        """The device's latest `sensor-data`, from what aggregate keeps in Redis."""
        (current,) = await live_queries.current(self.context.redis, [device])
        if current is None:
            return None
        hour, _day = await live_queries.windows(self.context.redis, device)
        return live.sensor_data(device, current.timestamp, current.value, current.unit, current.status, hour)

    async def _latest_sequence(self) -> int | None:
        """Where a connection asking for no replay starts; None when PostgreSQL cannot say (the connection then
        gets live changes, and no catch-up after a Redis outage)."""
        try:
            async with self.context.db.connection() as conn:
                row = await (await conn.execute(_LATEST_SEQUENCE_SQL)).fetchone()
        except Exception as error:
            log.warning("alert sequence unknown: no catch-up after a Redis outage", extra={"error": str(error)})
            return None
        return int(row[0]) if row else 0

    async def catch_up(self) -> None:
        """After the Redis listener (re)subscribed: each connection in the alerts room gets what it missed."""
        sids = [sid for sid, _ in self.sio.manager.get_participants("/", live.ALERTS_ROOM)]
        if not sids:
            return
        missed: dict[str, list[dict[str, Any]]] = {}
        try:
            async with self.context.db.connection() as conn:
                for sid in sids:
                    if (cursor := self.sent.missing(sid)) is not None:
                        since, have = cursor
                        missed[sid] = await _missed(conn, since, have=have)
        except Exception:
            log.exception("alert catch-up after the Redis listener resubscribed failed")
            return
        for sid, rows in missed.items():
            if replayed := await self._send_changes(sid, rows):
                log.info("alert changes replayed after Redis came back", extra={"sid": sid, "replayed": replayed})

    async def _send_changes(self, sid: str, rows: list[dict[str, Any]]) -> int:
        """Replay alert changes (with a device's status) to one connection, skipping those it has; how many sent."""
        rooms = set(self.sio.rooms(sid))
        sent = 0
        for row in rows:
            change = alerts.change(row)
            if change.sequence is not None and not self.sent.take(sid, change.sequence):
                continue
            events: set[str] = set()  # device-status goes to the device's room and to `system`: once is enough
            for message in live.alert_messages(change, replayed=True):
                if message.room in rooms and message.event not in events:
                    events.add(message.event)
                    # This replica's own client: nothing to tell the others through Redis.
                    await self.sio.emit(message.event, _plain(message.data), to=sid, ignore_queue=True)
            sent += 1
        return sent

    async def system_status(self) -> SystemStatus:
        found = await dependencies(self.context)
        return SystemStatus(
            status=overall(found),
            timestamp=now_iso(),
            metrics=await live_queries.system_metrics(self.context.redis),
            dependencies={name: DependencyState(status=state) for name, state in statuses(found).items()},
            dead_letters=await self.context.dead_letters.summary(),
        )

    async def _broadcast_status(self) -> None:
        while True:
            await asyncio.sleep(SYSTEM_STATUS_EVERY_S)
            try:
                # Local clients only: every replica sends its own, through Redis it would be sent N times.
                status_now = _plain(await self.system_status())
                await self.sio.emit("system-status", status_now, room=live.SYSTEM_ROOM, ignore_queue=True)
            except Exception:
                log.exception("system-status broadcast failed")

    def start(self) -> None:
        if not self.sio.manager_initialized:
            # Listen from the start, not from the first client as python-socketio would: notify counts a live
            # message sent only once a replica heard it.
            self.sio.manager_initialized = True
            self.sio.manager.initialize()
        self._status_task = asyncio.get_running_loop().create_task(self._broadcast_status())
        self.sessions.start()

    async def stop(self) -> None:
        await self.sessions.stop()
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None


async def _missed(
    conn: AsyncConnection[Any], since: int, after_alert: int = -1, have: list[int] | None = None
) -> list[dict[str, Any]]:
    """Alert changes after `since` (of alerts after `after_alert`), but those in `have`; oldest first, at most
    REPLAY_LIMIT."""
    params = {"since": since, "after_alert": after_alert, "have": have or [], "limit": REPLAY_LIMIT}
    cursor = conn.cursor(row_factory=dict_row)
    return list(await (await cursor.execute(_MISSED_CHANGES_SQL, params)).fetchall())


def _same_origin_and(configured: tuple[str, ...]) -> Callable[[str, dict[str, Any]], bool] | None:
    """The service's own origin, and IOTMON_CORS_ORIGINS besides. (python-socketio allows the same origin by
    default, None here; given a list, it would allow only the list, and refuse the dashboard it serves.)"""
    if not configured:
        return None

    def allowed(origin: str, environ: dict[str, Any]) -> bool:
        same = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin == same or origin in configured

    return allowed
