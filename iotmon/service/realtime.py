"""The Socket.IO protocol (architecture §4.6): rooms, subscriptions, live events.

Clients join rooms: `device:<id>` for `sensor-data` and `device-status`,
`alerts` for `alert-triggered` / `alert-resolved`, `system` for
`system-status`. The functions publish into those rooms through Redis
(python-socketio's Redis manager, write-only on their side), so every replica
of this service delivers to its own clients. A client subscribing to alerts
with the last `sequence` it saw (or the last alert id) gets what it missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import socketio
from psycopg.rows import dict_row

from iotmon.adapters.redis import keys
from iotmon.core import live
from iotmon.core.alerts import alert_id, alert_number
from iotmon.service.auth import Access
from iotmon.service.context import ServiceContext
from iotmon.service.health import dependencies, overall
from iotmon.service.responses import ApiError, iso, now_iso

log = logging.getLogger(__name__)

SYSTEM_STATUS_EVERY_S = 5.0
REPLAY_LIMIT = 500

_MISSED_ALERTS_SQL = """
SELECT h.id AS sequence, h.action, h.to_status, h.at, h.actor, h.note, h.details AS change_details,
       a.id AS number, a.device_id, a.alert_type, a.severity, a.message, a.value::float8, a.threshold::float8,
       a.triggered_at, a.details
FROM alert_history h JOIN alerts a ON a.id = h.alert_id
WHERE h.id > %(since)s AND a.id > %(after_alert)s
ORDER BY h.id LIMIT %(limit)s
"""


def replay_payload(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The Socket.IO event that tells a client about one missed alert change."""
    payload = {
        "alertId": alert_id(row["number"]),
        "deviceId": row["device_id"],
        "type": row["alert_type"],
        "severity": row["severity"],
        "message": row["message"],
        "value": row["value"],
        "threshold": row["threshold"],
        "timestamp": iso(row["at"]),
        "status": row["to_status"],
        "action": row["action"],
        "sequence": row["sequence"],
        "details": {**(row["details"] or {}), **(row["change_details"] or {})},
        "replayed": True,
    }
    return ("alert-resolved" if row["action"] == "resolved" else "alert-triggered"), payload


def _device_id(data: Any) -> str | None:
    """`subscribe-device` takes "device-001" or {"deviceId": "device-001"}."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("deviceId"), str):
        return data["deviceId"]
    return None


def _replay_cursor(data: Any) -> tuple[int, int] | str:
    """(since sequence, after alert number) from `subscribe-alerts`' payload, or an error message."""
    if data is None or data == {}:
        return (-1, -1)
    if not isinstance(data, dict):
        return 'subscribe-alerts takes an object: {} or {"since": <sequence>} or {"lastAlertId": "alert-007"}'
    since, last = data.get("since"), data.get("lastAlertId")
    if since is not None and (not isinstance(since, int) or isinstance(since, bool) or since < 0):
        return "'since' must be a non-negative integer (the `sequence` of the last alert event seen)"
    if last is not None:
        try:
            return (-1, alert_number(str(last)))
        except ValueError as error:
            return str(error)
    return (since if since is not None else -1, -1)


class Realtime:
    """The Socket.IO server of one service replica."""

    def __init__(
        self, context: ServiceContext, redis_url: str, access: Access, cors_origins: tuple[str, ...] = ()
    ) -> None:
        self.context = context
        self.access = access
        manager = socketio.AsyncRedisManager(redis_url, channel=keys.SOCKETIO_CHANNEL)
        # Same origin, plus IOTMON_CORS_ORIGINS.
        self.sio = socketio.AsyncServer(
            async_mode="asgi", client_manager=manager, cors_allowed_origins=list(cors_origins) or None
        )
        self._status_task: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        sio = self.sio
        sio.on("connect", self.connect)
        sio.on("subscribe-device", self.subscribe_device)
        sio.on("unsubscribe-device", self.unsubscribe_device)
        sio.on("subscribe-alerts", self.subscribe_alerts)
        sio.on("unsubscribe-alerts", self.unsubscribe_alerts)
        sio.on("subscribe-system", self.subscribe_system)
        sio.on("ping", self.ping)

    async def error(self, sid: str, event: str, message: str) -> dict[str, Any]:
        payload = {"event": event, "message": message, "timestamp": now_iso()}
        await self.sio.emit("error", payload, to=sid)
        return {"success": False, "error": message}

    async def connect(self, sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        """The handshake accepts the REST API's token: `io(url, {auth: {token}})`."""
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            user = self.access.verify(token) if token else None
        except ApiError as denied:
            raise socketio.exceptions.ConnectionRefusedError(denied.message, {"code": denied.code}) from None
        if user is None and not self.access.anonymous_read:
            # The client's connect_error gets the message and `data.code`, as the REST API's errors carry them.
            raise socketio.exceptions.ConnectionRefusedError("a token is required", {"code": "UNAUTHORIZED"})
        await self.sio.save_session(sid, {"user": user})
        status = {"status": "connected", "clientId": sid, "timestamp": now_iso()}
        if user is not None:
            status |= {"username": user.name, "role": user.role}
        await self.sio.emit("connection-status", status, to=sid)

    async def subscribe_device(self, sid: str, data: Any = None) -> dict[str, Any]:
        device = _device_id(data)
        if device is None:
            return await self.error(sid, "subscribe-device", 'expected "device-001" or {"deviceId": "device-001"}')
        if not await self._device_exists(device):
            return await self.error(sid, "subscribe-device", f"unknown device {device!r}")
        await self.sio.enter_room(sid, live.device_room(device))
        snapshot = await self._snapshot(device)
        if snapshot is not None:
            await self.sio.emit("sensor-data", snapshot, to=sid)
        return {"success": True, "deviceId": device}

    async def unsubscribe_device(self, sid: str, data: Any = None) -> dict[str, Any]:
        device = _device_id(data)
        if device is None:
            return await self.error(sid, "unsubscribe-device", 'expected "device-001" or {"deviceId": "device-001"}')
        await self.sio.leave_room(sid, live.device_room(device))
        return {"success": True, "deviceId": device}

    async def subscribe_alerts(self, sid: str, data: Any = None) -> dict[str, Any]:
        cursor = _replay_cursor(data)
        if isinstance(cursor, str):
            return await self.error(sid, "subscribe-alerts", cursor)
        await self.sio.enter_room(sid, live.ALERTS_ROOM)
        replayed = await self._replay(sid, *cursor) if cursor != (-1, -1) else 0
        return {"success": True, "replayed": replayed}

    async def unsubscribe_alerts(self, sid: str, _data: Any = None) -> dict[str, Any]:
        await self.sio.leave_room(sid, live.ALERTS_ROOM)
        return {"success": True}

    async def subscribe_system(self, sid: str, _data: Any = None) -> dict[str, Any]:
        await self.sio.enter_room(sid, live.SYSTEM_ROOM)
        await self.sio.emit("system-status", await self.system_status(), to=sid)
        return {"success": True}

    async def ping(self, _sid: str, _data: Any = None) -> dict[str, str]:
        return {"status": "pong", "timestamp": now_iso()}

    async def _device_exists(self, device: str) -> bool:
        async with self.context.db.connection() as conn:
            found = await (await conn.execute("SELECT 1 FROM devices WHERE device_id = %s", (device,))).fetchone()
        return found is not None

    async def _snapshot(self, device: str) -> dict[str, Any] | None:
        """The device's latest `sensor-data`, from what aggregate keeps in Redis."""
        current, stats = await self.context.redis.mget(keys.current(device), keys.stats(device, "1h"))
        if not current:
            return None
        value = json.loads(current)
        summary = json.loads(stats) if stats else {}
        return {
            "deviceId": device,
            "timestamp": value.get("timestamp"),
            "data": {"value": value.get("value"), "unit": value.get("unit"), "status": value.get("status")},
            "stats": {"avg": summary.get("avg"), "trend": summary.get("trend")},
        }

    async def _replay(self, sid: str, since: int, after_alert: int) -> int:
        async with self.context.db.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            rows = await (
                await cursor.execute(
                    _MISSED_ALERTS_SQL, {"since": since, "after_alert": after_alert, "limit": REPLAY_LIMIT}
                )
            ).fetchall()
        for row in rows:
            event, payload = replay_payload(row)
            await self.sio.emit(event, payload, to=sid)
        return len(rows)

    async def system_status(self) -> dict[str, Any]:
        found = await dependencies(self.context)
        metrics = await self.context.redis.get(keys.SYSTEM_METRICS)
        return {
            "status": overall(found),
            "timestamp": now_iso(),
            "metrics": json.loads(metrics) if metrics else None,
            "dependencies": {name: {"status": dep.get("status")} for name, dep in found.items()},
        }

    async def _broadcast_status(self) -> None:
        while True:
            await asyncio.sleep(SYSTEM_STATUS_EVERY_S)
            try:
                # Local clients only: every replica sends its own, through Redis it would be sent N times.
                await self.sio.emit(
                    "system-status", await self.system_status(), room=live.SYSTEM_ROOM, ignore_queue=True
                )
            except Exception:
                log.exception("system-status broadcast failed")

    def start(self) -> None:
        self._status_task = asyncio.get_running_loop().create_task(self._broadcast_status())

    async def stop(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
            self._status_task = None
