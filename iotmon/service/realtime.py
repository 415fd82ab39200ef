"""The Socket.IO server (architecture §4.6). This issue wires the connection;
rooms and the live events arrive with the real-time functions."""

from __future__ import annotations

from typing import Any

import socketio

from iotmon.service.responses import now_iso


def create_server(client_manager: socketio.AsyncManager | None = None) -> socketio.AsyncServer:
    # Same-origin only until CORS becomes configurable; always_connect confirms
    # the connection before `connection-status` is sent.
    sio = socketio.AsyncServer(async_mode="asgi", always_connect=True, client_manager=client_manager)

    @sio.event
    async def connect(sid: str, _environ: dict[str, Any], _auth: Any = None) -> None:
        await sio.emit("connection-status", {"status": "connected", "clientId": sid, "timestamp": now_iso()}, to=sid)

    @sio.on("ping")
    async def ping(sid: str, _data: Any = None) -> dict[str, str]:
        return {"status": "pong", "timestamp": now_iso()}

    return sio
