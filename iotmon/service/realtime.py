"""The Socket.IO protocol: rooms, subscriptions, live events (payloads: iotmon.core.contracts.live).

Clients join rooms: `device:<id>` for `sensor-data` and `device-status`,
`alerts` for `alert-triggered` / `alert-resolved`, `system` for
`system-status`, `fleet` for `fleet-status` (the fleet's counts and the
devices whose state changed, at most once a second: the overview of 10,000
devices never hears every reading). Aggregate publishes `sensor-data` only for
devices some replica marks as watched (iotmon.adapters.redis.watched). The
functions publish into those rooms through Redis
(python-socketio's Redis manager, write-only on their side), so every replica
of this service delivers to its own clients. A client subscribing to alerts
with the last `sequence` it saw (or the last alert id) gets what it missed, as
the same messages it would have heard live.

Redis pub/sub keeps nothing: what is published while this replica is not
subscribed (Redis down or restarting) never reaches it. So each time the
listener subscribes again, every connection in the alerts room is sent, from
PostgreSQL, the alert changes it has not had (iotmon/service/live_manager.py),
and no connection is sent the same change twice.

Every input is bounded. Each connection's events are rate-limited
(iotmon/service/live_limits.py) and their payloads checked
(iotmon/service/live_payloads.py) before a handler runs; whatever is refused
or fails is answered with `error` and a failed Ack. A replay sends one page
and says in its Ack where the next starts; replays and lookups wait in line
for a few pooled connections; and a client that does not read what it is sent
is dropped (iotmon/service/live_server.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import socketio
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from iotmon.adapters.postgres import alerts
from iotmon.adapters.redis import keys, watched
from iotmon.core import fleet, live
from iotmon.core.alerts import alert_number
from iotmon.core.contracts.fleet import FleetChange, FleetStatus
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
from iotmon.core.timestamps import iso
from iotmon.service import live_payloads
from iotmon.service.access import Access
from iotmon.service.context import ServiceContext
from iotmon.service.fleet import FleetView, Snapshot
from iotmon.service.health import dependencies, overall, statuses
from iotmon.service.live_limits import EVENTS_PER_S, EventLimiter, Verdict
from iotmon.service.live_manager import LiveManager, SentAlerts
from iotmon.service.live_server import NAMESPACE, UNREADABLE, LiveServer
from iotmon.service.live_sessions import LiveSessions
from iotmon.service.queries import devices
from iotmon.service.queries import live as live_queries
from iotmon.service.responses import ApiError, now_iso

log = logging.getLogger(__name__)

SYSTEM_STATUS_EVERY_S = 5.0
FLEET_STATUS_EVERY_S = 1.0  # the fleet's states are swept this often while a client of this replica follows them
FLEET_CHANGES_MAX = 500  # devices listed in one `fleet-status`; beyond, it says `resync` and the client refetches
REPLAY_LIMIT = 500  # alert changes in one page of a replay; the Ack tells the client where to ask for the next
# Replays under way at once on this replica. Each holds a pooled PostgreSQL connection while it reads its
# page, and its page in memory until the client has taken it, so many clients asking at once wait in line.
REPLAYS_AT_ONCE = 4
REPLAY_DRAIN_S = 5.0  # for a client to take a page (500 changes, about 0.5 MB); a slower one is dropped
REPLAY_DRAINED = 50  # packets still waiting for the client when its page counts as taken
# Other lookups at once (a device's existence and latest value, the system status): the REST API shares
# the PostgreSQL pool and Redis, and 300 clients subscribing at once must not take them all.
LOOKUPS_AT_ONCE = 4
# Clients send short subscriptions (the token in the handshake is the largest): a bigger message is refused
# by Engine.IO, which closes the connection.
MAX_MESSAGE_BYTES = 8 * 1024
# For uvicorn, which reads a WebSocket message whole before Engine.IO sees it (16 MiB by default).
WEBSOCKET_OPTIONS: dict[str, Any] = {"ws_max_size": MAX_MESSAGE_BYTES}
# A client that answers no ping for PING_INTERVAL_S + PING_TIMEOUT_S is gone.
PING_INTERVAL_S = 20
PING_TIMEOUT_S = 10

Handler = Callable[..., Awaitable[Any]]

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
    """(since sequence, after alert number) from `subscribe-alerts`' payload, or an error message. Both may be
    given: the next page of a replay after an alert id."""
    if data is None:
        return (-1, -1)
    try:
        asked = msgspec.convert(data, SubscribeAlerts)
    except msgspec.ValidationError as error:
        return f'subscribe-alerts takes {{}}, {{"since": <sequence>}} or {{"lastAlertId": "alert-007"}}: {error}'
    since = asked.since if asked.since is not None else -1
    if asked.last_alert_id is not None:
        try:
            return (since, alert_number(asked.last_alert_id))
        except ValueError as error:
            return str(error)
    return (since, -1)


class Realtime:
    """The Socket.IO server of one service replica."""

    def __init__(
        self,
        context: ServiceContext,
        redis_url: str,
        access: Access,
        cors_origins: tuple[str, ...] = (),
        fleet_view: FleetView | None = None,
    ) -> None:
        self.context = context
        self.fleet = fleet_view or FleetView(context)
        self._fleet_seen: fleet.Seen | None = None  # the states the last `fleet-status` told
        self.access = access
        self.sent = SentAlerts()
        self.limiter = EventLimiter()
        self._replaying: set[str] = set()  # connections with a replay under way: one at a time each
        self._catch_up_after: set[str] = set()  # ...that owe a catch-up once their replay page is sent
        self._replays = asyncio.Semaphore(REPLAYS_AT_ONCE)
        self._lookups = asyncio.Semaphore(LOOKUPS_AT_ONCE)
        manager = LiveManager(redis_url, keys.SOCKETIO_CHANNEL, self.sent, self.catch_up)
        self.sio = LiveServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=_same_origin_and(cors_origins),  # same origin, plus IOTMON_CORS_ORIGINS
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
        )
        self.sessions = LiveSessions(self.sio, access)
        self._tasks: list[asyncio.Task[None]] = []
        self.sio.on("connect", self._from_the_server("connect", self.connect))
        self.sio.on("disconnect", self._from_the_server("disconnect", self.disconnect))
        for event, handler in (
            ("subscribe-device", self.subscribe_device),
            ("unsubscribe-device", self.unsubscribe_device),
            ("subscribe-alerts", self.subscribe_alerts),
            ("unsubscribe-alerts", self.unsubscribe_alerts),
            ("subscribe-system", self.subscribe_system),
            ("subscribe-fleet", self.subscribe_fleet),
            ("unsubscribe-fleet", self.unsubscribe_fleet),
            ("ping", self.ping),
        ):
            self.sio.on(event, self._guarded(event, handler))
        self.sio.on("*", self.unknown_event)

    async def error(self, sid: str, event: str, message: str) -> Any:
        await self._send(sid, "error", LiveError(event=event, message=message, timestamp=now_iso()))
        return _plain(Ack(success=False, error=message))

    async def _send(self, sid: str, event: str, payload: msgspec.Struct) -> None:
        """To one of this replica's own connections: nothing to tell the other replicas through Redis."""
        await self.sio.emit(event, _plain(payload), to=sid, ignore_queue=True)

    def _connected(self, sid: str) -> bool:
        return bool(self.sio.manager.is_connected(sid, NAMESPACE))

    def _guarded(self, event: str, handler: Handler) -> Handler:
        async def guarded(sid: str, *arguments: Any) -> Any:
            return await self._handle(sid, event, handler, arguments)

        return guarded

    async def _handle(self, sid: str, event: str, handler: Handler, arguments: tuple[Any, ...]) -> Any:
        """Every client event: within the connection's rate, its payload within bounds, and any failure
        answered with `error` and a failed Ack."""
        if not self._connected(sid):
            return None  # it left before its event ran: nothing to answer, and nothing to follow
        verdict = self.limiter.take(sid)
        if verdict is Verdict.FLOODING:
            log.warning("Socket.IO client disconnected: it goes on sending over its rate", extra={"sid": sid})
            await self.sio.disconnect(sid)
            return _plain(Ack(success=False, error="too many events: disconnected"))
        if verdict is Verdict.REFUSED:
            return await self.error(sid, event, f"too many events: at most {EVENTS_PER_S:g} a second")
        if (why := live_payloads.refusal(arguments)) is not None:
            return await self.error(sid, event, f"{event} refused: {why}")
        try:
            return await handler(sid, *arguments)
        except Exception:
            log.exception("Socket.IO event failed", extra={"event": event, "sid": sid})
            return await self.error(sid, event, "the service could not answer now; try again")

    async def unknown_event(self, event: Any, sid: str, *arguments: Any) -> Any:
        name = event if isinstance(event, str) and live_payloads.refusal((event,)) is None else None
        return await self._refuse(sid, name or live_payloads.shown(event), arguments)

    async def _refuse(self, sid: str, event: str, arguments: tuple[Any, ...]) -> Any:
        if event == UNREADABLE:
            message = "an event the service cannot read: not JSON, nested too deep, or without a name"
        else:
            message = f"unknown event {event}"

        async def refuse(sid: str, *_arguments: Any) -> Any:
            return await self.error(sid, event, message)

        return await self._handle(sid, event, refuse, arguments)

    def _from_the_server(self, event: str, handler: Handler) -> Handler:
        """`connect` and `disconnect` are python-socketio's own events, but it calls their handlers for a
        client's event of that name too (one that would reset the connection's rate limit, or run the
        handshake again). The server's own run while the connection is pending, not connected."""

        async def server_only(sid: str, *arguments: Any) -> Any:
            if self._connected(sid):
                return await self._refuse(sid, event, arguments)
            return await handler(sid, *arguments)

        return server_only

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
        await self._send(sid, "connection-status", connected)

    async def disconnect(self, sid: str, _reason: Any = None) -> None:
        self.sent.forget(sid)
        self._catch_up_after.discard(sid)
        self.sessions.forget(sid)
        self.limiter.forget(sid)

    async def subscribe_device(self, sid: str, data: Any = None) -> Any:
        device = _device_id(data)
        if device is None:
            return await self.error(sid, "subscribe-device", 'expected "device-001" or {"deviceId": "device-001"}')
        async with self._lookups:
            async with self.context.db.connection() as conn:
                known = await devices.exists(conn, device)
            snapshot = await self._snapshot(device) if known else None
        if not known:
            return await self.error(sid, "subscribe-device", f"unknown device {device!r}")
        await self.sio.enter_room(sid, live.device_room(device))
        await self._mark_watched([device])
        if snapshot is not None:
            await self._send(sid, live.SENSOR_DATA, snapshot)
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
        if sid in self._replaying:
            return await self.error(sid, "subscribe-alerts", "a replay is under way: ask again after its Ack")
        self._replaying.add(sid)
        try:
            return await self._subscribe_alerts(sid, *cursor)
        finally:
            self._replaying.discard(sid)
            if sid in self._catch_up_after:  # the Redis listener came back during the page: what it missed now
                self._catch_up_after.discard(sid)
                await self.catch_up([sid])

    async def _subscribe_alerts(self, sid: str, since: int, after_alert: int) -> Any:
        start = since if since >= 0 else await self._latest_sequence()
        if not self._connected(sid):
            return None  # it left meanwhile: nothing to follow
        # Followed from before it joins the room, so that no live change slips past the record.
        if start is not None:
            self.sent.start(sid, start)
        await self.sio.enter_room(sid, live.ALERTS_ROOM)
        if (since, after_alert) == (-1, -1):
            return _plain(Ack(success=True, replayed=0))
        return await self._replay(sid, since, after_alert)

    async def _replay(self, sid: str, since: int, after_alert: int) -> Any:
        """One page of the changes missed; the Ack says whether more are left, and where the next page starts."""
        async with self._replays:
            if not self._connected(sid):
                return None  # it left while waiting in line
            async with self._lookups, self.context.db.connection() as conn:
                rows = await _missed(conn, since, after_alert, limit=REPLAY_LIMIT + 1)
            page, more = rows[:REPLAY_LIMIT], len(rows) > REPLAY_LIMIT
            ack = Ack(success=True, replayed=await self._send_changes(sid, page))
            if more:
                ack.more, ack.next_since = True, int(page[-1]["seq"])
            del rows, page  # held no longer than it takes to send them
            if not await self._taken(sid):
                await self.sio.drop(sid)
                return None
        return _plain(ack)

    async def _taken(self, sid: str) -> bool:
        """Whether the client took what was sent to it (or left) within REPLAY_DRAIN_S."""
        deadline = asyncio.get_running_loop().time() + REPLAY_DRAIN_S
        while self._connected(sid) and self.sio.backlog(sid) > REPLAY_DRAINED:
            if asyncio.get_running_loop().time() >= deadline:
                log.warning("Socket.IO client too slow to take a replay", extra={"sid": sid})
                return False
            await asyncio.sleep(0.05)
        return True

    async def unsubscribe_alerts(self, sid: str, _data: Any = None) -> Any:
        await self.sio.leave_room(sid, live.ALERTS_ROOM)
        self.sent.forget(sid)
        return _plain(Ack(success=True))

    async def subscribe_system(self, sid: str, _data: Any = None) -> Any:
        await self.sio.enter_room(sid, live.SYSTEM_ROOM)
        async with self._lookups:
            status = await self.system_status()
        await self._send(sid, "system-status", status)
        return _plain(Ack(success=True))

    async def subscribe_fleet(self, sid: str, _data: Any = None) -> Any:
        """Follow the fleet: the counts now, then `fleet-status` whenever a device's state changes (at most once
        a second)."""
        async with self._lookups:
            snapshot = await self.fleet.snapshot()
        await self.sio.enter_room(sid, live.FLEET_ROOM)
        await self._send(sid, live.FLEET_STATUS, _fleet_status(snapshot, []))
        return _plain(Ack(success=True))

    async def unsubscribe_fleet(self, sid: str, _data: Any = None) -> Any:
        await self.sio.leave_room(sid, live.FLEET_ROOM)
        return _plain(Ack(success=True))

    async def _broadcast_fleet(self) -> None:
        """Sweep the fleet's states once a second while a client here follows them, and tell what changed. Each
        replica sweeps for its own clients (the states are read from PostgreSQL and Redis, not heard): a device
        that goes silent changes state without any event, and a burst of readings is one message."""
        while True:
            await asyncio.sleep(FLEET_STATUS_EVERY_S)
            try:
                if not any(True for _ in self.sio.manager.get_participants("/", live.FLEET_ROOM)):
                    self._fleet_seen = None
                    continue
                await self._fleet_tick()
            except Exception:
                log.exception("fleet-status broadcast failed")

    async def _fleet_tick(self) -> None:
        snapshot = await self.fleet.snapshot(max_age_s=FLEET_STATUS_EVERY_S / 2)
        before, self._fleet_seen = self._fleet_seen, fleet.seen(snapshot.devices)
        if before is None:  # the first sweep: the clients had the counts on subscribing
            return
        changed = fleet.changes(before, snapshot.devices)
        gone = before.keys() - self._fleet_seen.keys()
        if not changed and not gone:
            return
        status = _fleet_status(snapshot, changed)
        if len(changed) > FLEET_CHANGES_MAX or gone:
            status.changes, status.resync = [], True
        await self.sio.emit(live.FLEET_STATUS, _plain(status), room=live.FLEET_ROOM, ignore_queue=True)

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
            async with self._lookups, self.context.db.connection() as conn:
                row = await (await conn.execute(_LATEST_SEQUENCE_SQL)).fetchone()
        except Exception as error:
            log.warning("alert sequence unknown: no catch-up after a Redis outage", extra={"error": str(error)})
            return None
        return int(row[0]) if row else 0

    async def catch_up(self, sids: list[str] | None = None) -> None:
        """After the Redis listener (re)subscribed: each connection in the alerts room gets what it missed, one
        connection after the other, so that one page is in memory at a time, not every connection's. A
        connection in the middle of a replay page gets it once the page is sent (interleaved, both would arrive
        out of order)."""
        if sids is None:
            sids = [sid for sid, _ in self.sio.manager.get_participants("/", live.ALERTS_ROOM)]
        if busy := [sid for sid in sids if sid in self._replaying]:
            self._catch_up_after.update(busy)
            sids = [sid for sid in sids if sid not in self._replaying]
        if not sids:
            return
        try:
            async with self.context.db.connection() as conn:
                for sid in sids:
                    if (cursor := self.sent.missing(sid)) is None:
                        continue
                    since, have = cursor
                    if replayed := await self._send_changes(sid, await _missed(conn, since, have=have)):
                        log.info(
                            "alert changes replayed after Redis came back", extra={"sid": sid, "replayed": replayed}
                        )
        except Exception:
            log.exception("alert catch-up after the Redis listener resubscribed failed")

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

    async def _mark_watched(self, devices: list[str]) -> None:
        """Tell aggregate these devices are watched (iotmon.adapters.redis.watched); best effort."""
        if not devices:
            return
        try:
            now_s = time.time()
            pipe = self.context.redis.pipeline(transaction=False)
            pipe.zadd(watched.WATCHED, watched.marks(devices, now_s))
            pipe.zremrangebyscore(watched.WATCHED, "-inf", now_s)
            await pipe.execute()
        except Exception as error:  # Redis away: live readings pause until it is back, nothing else does
            log.warning("cannot mark watched devices", extra={"error": str(error)})

    async def _renew_watched(self) -> None:
        prefix = live.device_room("")
        while True:
            await asyncio.sleep(watched.RENEW_S)
            rooms = self.sio.manager.rooms.get("/", {})
            await self._mark_watched([room[len(prefix) :] for room in list(rooms) if room.startswith(prefix)])

    def start(self) -> None:
        if not self.sio.manager_initialized:
            # Listen from the start, not from the first client as python-socketio would: notify counts a live
            # message sent only once a replica heard it.
            self.sio.manager_initialized = True
            self.sio.manager.initialize()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._broadcast_status()),
            loop.create_task(self._broadcast_fleet()),
            loop.create_task(self._renew_watched()),
        ]
        self.sessions.start()

    async def stop(self) -> None:
        await self.sessions.stop()
        for task in self._tasks:
            task.cancel()
        self._tasks = []


async def _missed(
    conn: AsyncConnection[Any],
    since: int,
    after_alert: int = -1,
    have: list[int] | None = None,
    limit: int = REPLAY_LIMIT,
) -> list[dict[str, Any]]:
    """Alert changes after `since` (of alerts after `after_alert`), but those in `have`; oldest first, at most
    `limit`."""
    params = {"since": since, "after_alert": after_alert, "have": have or [], "limit": limit}
    cursor = conn.cursor(row_factory=dict_row)
    return list(await (await cursor.execute(_MISSED_CHANGES_SQL, params)).fetchall())


def _fleet_status(snapshot: Snapshot, changes: list[FleetChange]) -> FleetStatus:
    return FleetStatus(
        timestamp=iso(snapshot.taken_at), totals=snapshot.totals, groups=snapshot.groups, changes=changes
    )


def _same_origin_and(configured: tuple[str, ...]) -> Callable[[str, dict[str, Any]], bool] | None:
    """The service's own origin, and IOTMON_CORS_ORIGINS besides. (python-socketio allows the same origin by
    default, None here; given a list, it would allow only the list, and refuse the dashboard it serves.)"""
    if not configured:
        return None

    def allowed(origin: str, environ: dict[str, Any]) -> bool:
        same = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin == same or origin in configured

    return allowed
